//! Bad input from the command line or the environment: clear messages and the documented exit codes.

use crate::lab;

pub fn missing_socket() {
    let (code, out, err) = lab().ovnscope(&["show", "--nb-db", "unix:/nonexistent/ovnnb_db.sock"]);
    assert_eq!(code, 3, "{err}");
    assert!(out.is_empty());
    assert!(
        err.contains("unix:/nonexistent/ovnnb_db.sock") && err.contains("no such socket") && err.contains("--nb-db"),
        "{err}"
    );
    assert!(!err.contains("panicked"));
}

pub fn wrong_database_on_the_socket() {
    let l = lab();
    let (code, _, err) = l.ovnscope(&["show", "--nb-db", &l.ovs_sock()]);
    assert_eq!(code, 3, "{err}");
    assert!(
        err.contains("does not serve database \"OVN_Northbound\"") && err.contains("it serves: Open_vSwitch"),
        "{err}"
    );
}

pub fn bad_method_is_a_usage_error() {
    let (code, _, err) = lab().ovnscope(&["show", "--sb-db", "tcp:127.0.0.1"]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("--sb-db") && err.contains("expected IP:PORT"), "{err}");
    let (code, _, _) = lab().ovnscope(&["show", "--no-such-flag"]);
    assert_eq!(code, 2);
}

pub fn refused_tcp_port() {
    // Port 9 on loopback: nothing listens there in the test environment.
    let (code, _, err) = lab().ovnscope(&["show", "--sb-db", "tcp:127.0.0.1:9"]);
    assert_eq!(code, 3, "{err}");
    assert!(err.contains("tcp:127.0.0.1:9") && err.contains("refused"), "{err}");
}
