//! Naming the process that holds a port, for the "port already in use" message. Linux reads
//! /proc; elsewhere the message simply says the port is taken.

/// The name and PID of the process listening on TCP `port`, when it can be found.
#[cfg(target_os = "linux")]
pub fn find(port: u16) -> Option<String> {
    let inodes = listening_inodes(port);
    if inodes.is_empty() {
        return None;
    }
    for entry in std::fs::read_dir("/proc").ok()?.flatten() {
        let pid = entry.file_name().to_string_lossy().into_owned();
        if !pid.bytes().all(|b| b.is_ascii_digit()) {
            continue;
        }
        let Ok(fds) = std::fs::read_dir(entry.path().join("fd")) else {
            continue;
        };
        for fd in fds.flatten() {
            let Ok(link) = std::fs::read_link(fd.path()) else {
                continue;
            };
            let link = link.to_string_lossy();
            if inodes.iter().any(|i| link == format!("socket:[{i}]")) {
                let name = std::fs::read_to_string(entry.path().join("comm")).unwrap_or_default();
                return Some(format!("{} (pid {pid})", name.trim()));
            }
        }
    }
    None
}

/// Not available on this platform.
#[cfg(not(target_os = "linux"))]
pub fn find(_port: u16) -> Option<String> {
    None
}

#[cfg(target_os = "linux")]
fn listening_inodes(port: u16) -> Vec<String> {
    let hex_port = format!(":{port:04X}");
    let mut inodes = Vec::new();
    for table in ["/proc/net/tcp", "/proc/net/tcp6"] {
        let Ok(text) = std::fs::read_to_string(table) else {
            continue;
        };
        for line in text.lines().skip(1) {
            let cols: Vec<&str> = line.split_whitespace().collect();
            // local_address is column 1, state column 3 (0A = LISTEN), inode column 9.
            if cols.len() > 9 && cols[1].ends_with(&hex_port) && cols[3] == "0A" {
                inodes.push(cols[9].to_owned());
            }
        }
    }
    inodes
}
