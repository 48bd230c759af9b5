//! Reads a process's CPU time and resident memory from Linux `/proc`, and finds the process
//! listening on a TCP port. Linux only; elsewhere every reading is `None`. It must not write
//! anything or signal any process.

use std::time::Duration;

/// Kernel clock ticks per second for `/proc/<pid>/stat` times (`USER_HZ`, 100 on every Linux
/// architecture the engine targets).
const USER_HZ: u64 = 100;

/// One reading of a process.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ProcSample {
    /// User plus system CPU time so far, all threads, live and exited.
    pub cpu: Duration,
    /// Resident set size, bytes.
    pub rss: u64,
}

/// Reads CPU time and RSS of `pid`.
pub fn sample(pid: u32) -> Option<ProcSample> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    Some(ProcSample {
        cpu: cpu_of_stat(&stat)?,
        rss: rss_of_status(&status)?,
    })
}

/// `utime + stime` from a `/proc/<pid>/stat` line (fields 14 and 15, counted after the
/// parenthesised command name, which may hold spaces).
fn cpu_of_stat(stat: &str) -> Option<Duration> {
    let after = &stat[stat.rfind(')')? + 1..];
    let mut fields = after.split_whitespace();
    // After ")": state is field 3, so utime (14) is the 12th here.
    let utime: u64 = fields.nth(11)?.parse().ok()?;
    let stime: u64 = fields.next()?.parse().ok()?;
    Some(Duration::from_millis((utime + stime) * 1000 / USER_HZ))
}

fn rss_of_status(status: &str) -> Option<u64> {
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb * 1024)
}

/// The process listening on TCP `port` (any address), found through the socket inode in
/// `/proc/net/tcp{,6}` and the descriptors under `/proc/*/fd` we may read.
pub fn pid_listening_on(port: u16) -> Option<u32> {
    let mut inodes = Vec::new();
    for table in ["/proc/net/tcp", "/proc/net/tcp6"] {
        let Ok(text) = std::fs::read_to_string(table) else {
            continue;
        };
        inodes.extend(listening_inodes(&text, port));
    }
    if inodes.is_empty() {
        return None;
    }
    let wanted: Vec<String> = inodes.iter().map(|i| format!("socket:[{i}]")).collect();
    for entry in std::fs::read_dir("/proc").ok()?.flatten() {
        let Some(pid) = entry
            .file_name()
            .to_str()
            .and_then(|s| s.parse::<u32>().ok())
        else {
            continue;
        };
        let Ok(fds) = std::fs::read_dir(entry.path().join("fd")) else {
            continue;
        };
        for fd in fds.flatten() {
            if let Ok(target) = std::fs::read_link(fd.path())
                && let Some(t) = target.to_str()
                && wanted.iter().any(|w| w == t)
            {
                return Some(pid);
            }
        }
    }
    None
}

/// Inodes of sockets in LISTEN state (`0A`) on `port` in a `/proc/net/tcp` table.
fn listening_inodes(table: &str, port: u16) -> Vec<u64> {
    table
        .lines()
        .skip(1)
        .filter_map(|line| {
            let f: Vec<&str> = line.split_whitespace().collect();
            let local = f.get(1)?;
            let state = f.get(3)?;
            let inode = f.get(9)?;
            let p = u16::from_str_radix(local.rsplit(':').next()?, 16).ok()?;
            (p == port && *state == "0A").then(|| inode.parse().ok())?
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stat_times_are_read_after_a_command_name_with_spaces() {
        let stat = "4242 (ivr serve) S 1 4242 4242 0 -1 4194560 900 0 0 0 250 50 0 0 20 0 3 0 \
                    100 1000 200 18446744073709551615";
        assert_eq!(cpu_of_stat(stat), Some(Duration::from_millis(3000)));
    }

    #[test]
    fn resident_size_comes_from_the_vmrss_line_in_bytes() {
        let status = "Name:\tivr\nVmPeak:\t  9000 kB\nVmRSS:\t   1234 kB\n";
        assert_eq!(rss_of_status(status), Some(1234 * 1024));
    }

    #[test]
    fn only_listening_sockets_on_the_port_are_found() {
        let table = "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n\
   0: 0100007F:1F90 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 111 1 0 100 0 0 10 0\n\
   1: 0100007F:1F90 0100007F:D431 01 00000000:00000000 00:00000000 00000000     0        0 222 1 0 20 4 30 10 -1\n\
   2: 0100007F:1F91 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 333 1 0 100 0 0 10 0\n";
        assert_eq!(listening_inodes(table, 8080), vec![111]);
        assert_eq!(listening_inodes(table, 8081), vec![333]);
        assert!(listening_inodes(table, 9).is_empty());
    }

    #[test]
    fn this_process_can_be_sampled() {
        let s = sample(std::process::id()).expect("own /proc entry");
        assert!(s.rss > 0);
    }
}
