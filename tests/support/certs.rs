//! Test certificates made with openssl, as OVS users make theirs: a CA ("ca"), a second CA
//! that signed nothing we trust ("other"), and a server and a client certificate signed by the
//! first (and a "stranger" client signed by the second), named the way `ovs-pki` names them ("ovnserver id:1234", matching no address).
//! Shared by the test binaries that need TLS (`#[path]`-included).

use std::path::Path;
use std::process::Command;

fn openssl(dir: &Path, args: &[&str]) {
    let st = Command::new("openssl")
        .current_dir(dir)
        .args(args)
        .stderr(std::process::Stdio::null())
        .status()
        .unwrap();
    assert!(st.success(), "openssl {args:?}");
}

/// Writes ca.{key,crt}, other.{key,crt}, server.{key,crt} and client.{key,crt} (signed by
/// ca), and stranger.{key,crt} (a client signed by other) into `d`.
pub fn make(d: &Path) {
    std::fs::write(
        d.join("leaf.ext"),
        "basicConstraints=CA:FALSE\nkeyUsage=digitalSignature,keyEncipherment\nextendedKeyUsage=serverAuth,clientAuth\n",
    )
    .unwrap();
    for ca in ["ca", "other"] {
        let (key, crt, subj) = (format!("{ca}.key"), format!("{ca}.crt"), format!("/CN={ca} CA"));
        openssl(
            d,
            &[
                "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", &key, "-out", &crt, "-days", "2", "-subj", &subj,
            ],
        );
    }
    for (n, ca) in [("server", "ca"), ("client", "ca"), ("stranger", "other")] {
        let (ca_crt, ca_key) = (format!("{ca}.crt"), format!("{ca}.key"));
        let (key, csr, crt, subj) = (
            format!("{n}.key"),
            format!("{n}.csr"),
            format!("{n}.crt"),
            format!("/CN=ovn{n} id:1234"),
        );
        openssl(
            d,
            &[
                "req", "-newkey", "rsa:2048", "-nodes", "-keyout", &key, "-out", &csr, "-subj", &subj,
            ],
        );
        openssl(
            d,
            &[
                "x509",
                "-req",
                "-in",
                &csr,
                "-CA",
                &ca_crt,
                "-CAkey",
                &ca_key,
                "-CAcreateserial",
                "-out",
                &crt,
                "-days",
                "2",
                "-extfile",
                "leaf.ext",
            ],
        );
    }
}
