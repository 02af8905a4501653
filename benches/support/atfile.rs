//! Just enough of autotest's m4 to turn one test of OVN's own suite (`tests/ovn.at`,
//! `tests/ovn-northd.at`) into a shell script the conformance runner can replay: quotes are
//! stripped as m4 strips them, the handful of autotest macros that wrap shell commands become
//! those commands, and the macros that check packets, wait for hypervisors or clean up become
//! nothing (the replay has no hypervisors; only the databases matter to a trace). A test that
//! uses any other macro is reported as not replayable, never guessed at.

/// One `AT_SETUP` … `AT_CLEANUP` block.
pub struct Test {
    pub file: String,
    pub line: usize,
    pub name: String,
    pub body: String,
}

/// The tests of an `.at` file, in order.
pub fn tests(file: &str, text: &str) -> Vec<Test> {
    let mut out = vec![];
    let mut cur: Option<Test> = None;
    for (i, line) in text.lines().enumerate() {
        let t = line.trim_start();
        if let Some(rest) = t.strip_prefix("AT_SETUP(") {
            let name = rest.trim_end().trim_end_matches(')').trim_start_matches('[').trim_end_matches(']');
            cur = Some(Test {
                file: file.to_string(),
                line: i + 1,
                name: name.to_string(),
                body: String::new(),
            });
        } else if t.starts_with("AT_CLEANUP") {
            out.extend(cur.take());
        } else if let Some(c) = cur.as_mut() {
            c.body.push_str(line);
            c.body.push('\n');
        }
    }
    out
}

/// Macros whose whole effect is on hypervisors, packets or the test's own bookkeeping.
const NOTHING: &[&str] = &[
    "AT_KEYWORDS",
    "AT_CAPTURE_FILE",
    "AT_BANNER",
    "AT_FAIL_IF",
    "AT_XFAIL_IF",
    "OVN_CLEANUP",
    "OVN_CLEANUP_SBOX",
    "OVN_CLEANUP_VSWITCH",
    "OVN_CLEANUP_AZ",
    "OVN_CLEANUP_IC",
    "OVN_CLEANUP_CONTROLLER",
    "OVN_POPULATE_ARP",
    "OVN_CHECK_PACKETS",
    "OVN_CHECK_PACKETS_REMOVE_BROADCAST",
    "OVN_CHECK_PACKETS_CONTAIN",
    "OVN_CHECK_PACKETS_UNIQ",
    "OVN_WAIT_PATCH_PORT_FLOWS",
    "OVN_WAIT_REMOTE_OUTPUT_FLOWS",
    "OVS_APP_EXIT_AND_WAIT",
    "OVS_APP_EXIT_AND_WAIT_BY_TARGET",
    "OVS_WAIT_WHILE",
    // system-ovn.at's namespaces, bridges and daemons: never created by a replay.
    "ADD_NAMESPACES",
    "ADD_VETH",
    "ADD_BR",
    "ADD_INT",
    "ADD_VLAN",
    "NS_CHECK_EXEC",
    "NS_EXEC",
    "NETNS_DAEMONIZE",
    "OVS_TRAFFIC_VSWITCHD_START",
    "OVS_TRAFFIC_VSWITCHD_STOP",
    "OVS_START_L7",
    "CHECK_CONNTRACK",
    "CHECK_CONNTRACK_NAT",
    "CHECK_CONNTRACK_LOCAL_NAT",
    "OVS_CHECK_CT_ZERO_SNAT",
    "FORMAT_CT",
    "WAIT_PACKET",
];

/// Macros that become shell commands.
const HANDLED: &[&str] = &[
    "AT_CHECK",
    "AT_CHECK_UNQUOTED",
    "OVS_WAIT_UNTIL",
    "OVS_WAIT_FOR_OUTPUT",
    "OVS_WAIT_FOR_OUTPUT_UNQUOTED",
    "AT_SKIP_IF",
    "AT_DATA",
    "AS_BOX",
    "AS_VAR_SET",
    "AS_VAR_COPY",
    "AS_VAR_ARITH",
];

/// The shell text of a test body, or why it cannot be replayed (a macro this file does not
/// know).
pub fn shell(body: &str) -> Result<String, String> {
    let s = expand(body)?;
    Ok(quadrigraphs(&s))
}

fn quadrigraphs(s: &str) -> String {
    s.replace("@<:@", "[")
        .replace("@:>@", "]")
        .replace("@S|@", "$")
        .replace("@%:@", "#")
        .replace("@&t@", "")
}

/// One m4 pass: strips one level of `[`…`]`, copies `#` comments, drops `dnl` lines, expands
/// the known macros.
fn expand(text: &str) -> Result<String, String> {
    let b = text.as_bytes();
    let mut out = String::new();
    let mut i = 0;
    while i < b.len() {
        let c = b[i];
        match c {
            b'#' => {
                let end = text[i..].find('\n').map(|n| i + n).unwrap_or(b.len());
                out.push_str(&text[i..end]);
                i = end;
            }
            b'[' => {
                let end = close_quote(b, i)?;
                out.push_str(&text[i + 1..end]);
                i = end + 1;
            }
            c if c.is_ascii_alphabetic() || c == b'_' => {
                // Part of a longer word (`$x_AT`): not a macro name.
                let mut j = i;
                while j < b.len() && (b[j].is_ascii_alphanumeric() || b[j] == b'_') {
                    j += 1;
                }
                let word = &text[i..j];
                let glued = i > 0 && (b[i - 1].is_ascii_alphanumeric() || b[i - 1] == b'$' || b[i - 1] == b'{');
                if glued {
                    out.push_str(word);
                    i = j;
                    continue;
                }
                if word == "dnl" {
                    i = text[j..].find('\n').map(|n| j + n + 1).unwrap_or(b.len());
                    continue;
                }
                let known = NOTHING.contains(&word) || HANDLED.contains(&word);
                if !(known || is_macro_name(word) && b.get(j) == Some(&b'(')) {
                    // A shell word, or a variable such as OVN_NB_DB.
                    out.push_str(word);
                    i = j;
                    continue;
                }
                let (args, next) = if b.get(j) == Some(&b'(') { args(text, j)? } else { (vec![], j) };
                out.push_str(&call(word, &args)?);
                i = next;
            }
            _ => {
                let ch = text[i..].chars().next().unwrap();
                out.push(ch);
                i += ch.len_utf8();
            }
        }
    }
    Ok(out)
}

/// Autotest and OVN test macros are upper case with an underscore, or m4_*.
fn is_macro_name(w: &str) -> bool {
    w.starts_with("m4_") || (w.contains('_') && w.len() > 3 && w.bytes().all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == b'_'))
}

fn close_quote(b: &[u8], open: usize) -> Result<usize, String> {
    let mut depth = 0;
    for (k, &c) in b.iter().enumerate().skip(open) {
        match c {
            b'[' => depth += 1,
            b']' => {
                depth -= 1;
                if depth == 0 {
                    return Ok(k);
                }
            }
            _ => {}
        }
    }
    Err("an unclosed quote".into())
}

/// The raw arguments of a macro call whose `(` is at `open`, each with one quote level
/// stripped (as m4 collects them), and where the call ends.
fn args(text: &str, open: usize) -> Result<(Vec<String>, usize), String> {
    let b = text.as_bytes();
    let mut args = vec![];
    let mut cur = String::new();
    let mut depth = 0;
    let mut i = open + 1;
    let mut leading = true;
    while i < b.len() {
        let c = b[i];
        match c {
            b'[' => {
                let end = close_quote(b, i)?;
                cur.push_str(&text[i + 1..end]);
                i = end + 1;
                leading = false;
                continue;
            }
            b'(' => depth += 1,
            b')' if depth == 0 => {
                args.push(cur);
                return Ok((args, i + 1));
            }
            b')' => depth -= 1,
            b',' if depth == 0 => {
                args.push(std::mem::take(&mut cur));
                i += 1;
                leading = true;
                continue;
            }
            _ => {}
        }
        if leading && c.is_ascii_whitespace() {
            i += 1;
            continue;
        }
        leading = false;
        let ch = text[i..].chars().next().unwrap();
        cur.push(ch);
        i += ch.len_utf8();
    }
    Err("an unclosed macro call".into())
}

fn arg(args: &[String], n: usize) -> &str {
    args.get(n).map(String::as_str).unwrap_or("")
}

/// A macro's shell text. The commands of AT_CHECK and friends go through one more m4 pass, as
/// autotest expands them.
fn call(name: &str, a: &[String]) -> Result<String, String> {
    if NOTHING.contains(&name) {
        return Ok(String::new());
    }
    let cmd = |n: usize| expand(arg(a, n)).map(|s| s.trim().to_string());
    Ok(match name {
        "AT_CHECK" | "AT_CHECK_UNQUOTED" => {
            let out = if arg(a, 2).trim() == "stdout" { "stdout" } else { "/dev/null" };
            let err = if arg(a, 3).trim() == "stderr" { "stderr" } else { "/dev/null" };
            format!("( {}\n) >{out} 2>{err}", cmd(0)?)
        }
        "OVS_WAIT_UNTIL" | "OVS_WAIT_FOR_OUTPUT" | "OVS_WAIT_FOR_OUTPUT_UNQUOTED" => {
            format!("( {}\n) >/dev/null 2>&1", cmd(0)?)
        }
        "AT_SKIP_IF" => format!("if {}; then exit 77; fi", cmd(0)?),
        "AT_DATA" => format!("cat >{} <<'__AT_DATA__'\n{}__AT_DATA__", cmd(0)?, expand(arg(a, 1))?),
        "AS_BOX" => format!("echo \"## {} ##\"", cmd(0)?),
        "AS_VAR_SET" => format!("__v=\"{}\"; eval \"{}=\\$__v\"", cmd(1)?, cmd(0)?),
        "AS_VAR_COPY" => format!("eval \"{}=\\${{{}}}\"", cmd(0)?, cmd(1)?),
        "AS_VAR_ARITH" => format!("eval \"{}=\\$(( {} ))\"", cmd(0)?, cmd(1)?),
        other => return Err(format!("macro {other}")),
    })
}
