//! The `/proc` parsers on tables, then the whole path on this test process's own sockets.

use super::*;

const HEAD: &str = "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n";

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

#[test]
#[cfg(target_endian = "little")]
fn listening_entries_of_tcp_tables() {
    let tcp = format!(
        "{HEAD}\
   0: 0100007F:1F90 00000000:0000 0A 00000000:00000000 00:00000000 00000000  1000        0 111 1 0000000000000000 100 0 0 10 0\n\
   1: 050B0B7F:2378 00000000:0000 0A 00000000:00000000 00:00000000 00000000  1000        0 222 1 0000000000000000 100 0 0 10 0\n\
   2: 00000000:0050 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 333 1 0000000000000000 100 0 0 10 0\n\
   3: 0100007F:1F90 0100007F:C350 01 00000000:00000000 00:00000000 00000000  1000        0 444 1 0000000000000000 20 4 30 10 -1\n\
   4: garbage\n"
    );
    let cases: &[(&str, bool, Vec<Entry>)] = &[
        // 127.0.0.1:8080, 127.11.11.5:9080, 0.0.0.0:80; the ESTABLISHED (01) row and garbage are skipped.
        (
            &tcp,
            false,
            vec![((ip("127.0.0.1"), 8080), 111), ((ip("127.11.11.5"), 9080), 222), ((ip("0.0.0.0"), 80), 333)],
        ),
        (
            &format!(
                "{HEAD}\
   0: 00000000000000000000000000000000:1F90 00000000000000000000000000000000:0000 0A 00000000:00000000 00:00000000 00000000  1000        0 555 1 0 100 0 0 10 0\n\
   1: 00000000000000000000000001000000:0050 00000000000000000000000000000000:0000 0A 00000000:00000000 00:00000000 00000000  1000        0 666 1 0 100 0 0 10 0\n\
   2: 0000000000000000FFFF00000100007F:1F91 00000000000000000000000000000000:0000 0A 00000000:00000000 00:00000000 00000000  1000        0 777 1 0 100 0 0 10 0\n\
   3: 0100007F:1F90 00000000:0000 0A 00000000:00000000 00:00000000 00000000  1000        0 888 1 0 100 0 0 10 0\n"
            ),
            true,
            // [::]:8080, [::1]:80, [::ffff:127.0.0.1]:8081; an IPv4-length address in tcp6 is refused.
            vec![((ip("::"), 8080), 555), ((ip("::1"), 80), 666), ((ip("::ffff:127.0.0.1"), 8081), 777)],
        ),
        (HEAD, false, vec![]),
        ("", true, vec![]),
    ];
    for (table, v6, want) in cases {
        assert_eq!(&listening(table, *v6), want, "table:\n{table}");
    }
}

#[test]
fn stat_lines_and_fd_links() {
    let cases: &[(&str, Option<(u32, u32)>)] = &[
        ("4242 (python3) S 4200 4242 4200 0 -1 4194560 ...", Some((4242, 4242))),
        // A name with spaces and a parenthesis: fields count from the last ')'.
        ("77 (a b) c)) R 1 70 70 0 -1", Some((77, 70))),
        ("x (y) S 1 2", None),
        ("12 (z) S 1", None),
    ];
    for (stat, want) in cases {
        assert_eq!(pid_and_group(stat), *want, "{stat}");
    }
    assert_eq!(socket_inode("socket:[98765]"), Some(98765));
    assert_eq!(socket_inode("pipe:[98765]"), None);
    assert_eq!(socket_inode("/dev/null"), None);
}

#[test]
fn wildcard_v6_sockets_are_v6_only_when_an_ipv4_wildcard_shares_the_port() {
    let all = [(ip("::"), 80), (ip("0.0.0.0"), 80), (ip("::"), 81)];
    assert!(v6_only(ip("::"), 80, &all, false));
    assert!(!v6_only(ip("::"), 81, &all, false));
    assert!(v6_only(ip("::"), 81, &all, true));
    assert!(!v6_only(ip("0.0.0.0"), 80, &all, true));
    assert!(!v6_only(ip("::1"), 81, &all, true));
}

/// The real kernel's tables: a socket this process listens on is found, with its address and
/// port, and one another process owns is not.
#[test]
fn finds_this_processs_own_listeners() {
    let mine = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = mine.local_addr().unwrap().port();
    let pod = PodEntry {
        name: "me".into(),
        namespace: "default".into(),
        app_ip: "127.11.0.9".into(),
        app_pids: vec![std::process::id()],
        ..Default::default()
    };
    let facts = pod_facts(&pod, &BTreeMap::new(), false).unwrap();
    assert!(
        facts.listening.contains(&Socket { address: ip("127.0.0.1"), port, v6_only: false }),
        "{:?} has 127.0.0.1:{port}",
        facts.listening
    );
    assert_eq!(facts.forwards_to, ip("127.11.0.9"));
    // Another process (same network namespace) does not own it: not its pod's.
    let mut other = std::process::Command::new("sleep").arg("5").spawn().unwrap();
    let theirs = PodEntry { app_pids: vec![other.id()], ..pod.clone() };
    let facts = pod_facts(&theirs, &BTreeMap::new(), false).unwrap();
    let _ = other.kill();
    let _ = other.wait();
    assert!(!facts.listening.iter().any(|s| s.port == port), "not sleep's: {:?}", facts.listening);
    let stopped = PodEntry { app_pids: vec![0], ..pod };
    assert!(pod_facts(&stopped, &BTreeMap::new(), false).unwrap_err().contains("not running"));
}
