//! Path MTU discovery on a real kernel path: tests/path-mtu moves 4 MiB through a router, the
//! link behind it and then the sender's own at an MTU of 1280 (and over IPv6, the link behind
//! it at 1300, then at 1280 in the secure mode), with the `ferry` binary this build made, and
//! checks that the sender's segments grew, but only to what that link carries unfragmented
//! (RFC 8899), and that at IPv6's minimum MTU the protected base datagram crosses. It needs
//! root and network namespaces and says it skipped otherwise (it exits 0 then, and this test
//! passes).

use std::process::Command;

#[test]
fn path_mtu_discovery_settles_on_what_a_1280_octet_link_carries_unfragmented() {
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/../tests/path-mtu");
    let output = Command::new(script)
        .arg(env!("CARGO_BIN_EXE_ferry"))
        .output()
        .expect("tests/path-mtu runs");
    let report = String::from_utf8_lossy(&output.stderr);
    println!("{report}");
    assert!(output.status.success(), "{report}");
}
