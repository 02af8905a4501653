//! `ssl:` as OVS does it: mutual TLS, chain checked against -C, host names not checked (the
//! certificates here name "ovnserver id:…", not 127.0.0.1). A real ovsdb-server with
//! `--remote=pssl:`, certificates made with openssl.

use crate::common::Served;
use crate::lab;

pub fn ssl_like_ovs() {
    let l = lab();
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    crate::certs::make(d);
    // A copy of the lab's NB, served over pssl: and punix:.
    let db = d.join("nb.db");
    std::fs::copy(l.dir.join("ovn/ovnnb_db.db"), &db).unwrap();
    let tls = [
        "--remote=pssl:18643:127.0.0.1".to_string(),
        format!("--private-key={}", d.join("server.key").display()),
        format!("--certificate={}", d.join("server.crt").display()),
        format!("--ca-cert={}", d.join("ca.crt").display()),
    ];
    let served = Served::start_with(dir, &db, &tls);
    let f = |n: &str| served.dir.path().join(n).display().to_string();
    let ssl = "ssl:127.0.0.1:18643";
    let (key, cert, ca, other) = (f("client.key"), f("client.crt"), f("ca.crt"), f("other.crt"));
    let mut over_ssl = l.ovnscope_json(&["show", "--nb-db", ssl, "-p", &key, "-c", &cert, "-C", &ca, "-f", "json"]);
    let mut over_unix = l.ovnscope_json(&["show", "--nb-db", &served.sock, "-f", "json"]);
    over_ssl["nb"]["source"] = serde_json::Value::Null;
    over_unix["nb"]["source"] = serde_json::Value::Null;
    assert_eq!(over_ssl, over_unix);
    // The OVS tool with the same files agrees on what is there.
    let listed = l.run(
        "ovn-nbctl",
        &[&format!("--db={ssl}"), "-p", &key, "-c", &cert, "-C", &ca, "lr-list"],
    );
    for line in listed.lines() {
        let name = line.split_once(' ').unwrap().1.trim_matches(|c| c == '(' || c == ')');
        assert!(
            over_ssl["nb"]["routers"].as_array().unwrap().iter().any(|r| r["name"] == name),
            "{name}"
        );
    }
    // The wrong CA: the server's chain does not verify.
    let (code, _, err) = l.ovnscope(&["show", "--nb-db", ssl, "-p", &key, "-c", &cert, "-C", &other]);
    assert_eq!(code, 3, "{err}");
    assert!(
        err.contains("TLS handshake failed") && err.contains("UnknownIssuer") && err.contains("hint: check that -C"),
        "{err}"
    );
    // No client certificate: a clear error before connecting.
    let (code, _, err) = l.ovnscope(&["show", "--nb-db", ssl, "-C", &ca]);
    assert_eq!(code, 3, "{err}");
    assert!(err.contains("needs -p PRIVATE-KEY, -c CERTIFICATE and -C CA-CERT"), "{err}");
    // A key file that is not a key.
    let (code, _, err) = l.ovnscope(&["show", "--nb-db", ssl, "-p", &ca, "-c", &cert, "-C", &ca]);
    assert_eq!(code, 3, "{err}");
    assert!(err.contains("private key (-p)"), "{err}");
    // The server stops (by PID) when `served` is dropped, also when an assertion fails.
}
