//! Who holds a TCP socket, from the kernel's socket tables: the uid of the peer of a loopback
//! connection (the legacy API accepts only the daemon's own user), and who listens on a port
//! (doctor, the tray and the daemon name another program on 61161).
//!
//! Linux reads `/proc/net/tcp` and `/proc/net/tcp6`: one row per socket with its local and
//! remote address (hex, each 32-bit word in host byte order), state and owner's uid. On other
//! systems these facts are not read (see [`peer_uid`]).

use std::net::SocketAddr;

/// One socket of the kernel's tables.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Row {
    local: SocketAddr,
    remote: SocketAddr,
    listening: bool,
    uid: u32,
    inode: String,
}

/// Who listens on a port.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Holder {
    /// The listening socket's owner.
    pub uid: u32,
    /// The program's name and PID, when this user may see its file descriptors.
    pub process: Option<String>,
}

impl Holder {
    /// The holder for people: `name (pid N)` and, when it is another user's, that user.
    pub fn describe(&self, own_uid: u32) -> String {
        let user = user_name(self.uid).unwrap_or_else(|| format!("uid {}", self.uid));
        match (&self.process, self.uid == own_uid) {
            (Some(p), true) => p.clone(),
            (Some(p), false) => format!("{p}, another user: {user}"),
            (None, true) => "a program of yours".to_owned(),
            (None, false) => format!("another user's program ({user})"),
        }
    }
}

/// The uid owning the client end of the loopback TCP connection whose client is `peer` and
/// whose server end is `local`. `None` when it cannot be read, which the caller treats as "not
/// this user". Linux only: macOS (`proc_pidfdinfo` over every process) and Windows
/// (`GetExtendedTcpTable`'s owning PID, then the process token's user) need system calls
/// card-agent does not make yet; they cannot be built or run here.
pub fn peer_uid(peer: SocketAddr, local: SocketAddr) -> Option<u32> {
    rows()
        .into_iter()
        .find(|r| !r.listening && r.local == peer && r.remote == local)
        .map(|r| r.uid)
}

/// Whether this system can tell the peer's uid (so that "unknown" means refuse).
pub const PEER_UID_KNOWN: bool = cfg!(target_os = "linux");

/// Who listens on TCP `port` on any address, when the tables say.
pub fn holder(port: u16) -> Option<Holder> {
    let row = rows()
        .into_iter()
        .find(|r| r.listening && r.local.port() == port)?;
    Some(Holder {
        uid: row.uid,
        process: process_of(&row.inode),
    })
}

/// Who listens on TCP `port` when it is not this user: every page's PIN and document sent to
/// that port would go to another user's program.
pub fn foreign_holder(port: u16) -> Option<Holder> {
    holder(port).filter(|h| h.uid != own_uid())
}

/// The warning doctor, the tray and the daemon give when another user holds the port.
pub fn foreign_note(address: &str, holder: &Holder, lang: card_agent_protocol::Language) -> String {
    card_agent_protocol::i18n::format(
        lang,
        "legacy.port.foreign",
        &[
            ("address", &address),
            ("holder", &holder.describe(own_uid())),
        ],
    )
}

/// The name and PID of the process listening on TCP `port`, with its user when it is not
/// ours, for the "port already in use" message.
pub fn find(port: u16) -> Option<String> {
    holder(port).map(|h| h.describe(own_uid()))
}

/// This process's uid.
pub fn own_uid() -> u32 {
    #[cfg(unix)]
    {
        rustix::process::getuid().as_raw()
    }
    #[cfg(not(unix))]
    {
        0
    }
}

#[cfg(target_os = "linux")]
fn rows() -> Vec<Row> {
    let mut rows = Vec::new();
    for (table, v6) in [("/proc/net/tcp", false), ("/proc/net/tcp6", true)] {
        if let Ok(text) = std::fs::read_to_string(table) {
            rows.extend(text.lines().skip(1).filter_map(|l| parse_row(l, v6)));
        }
    }
    rows
}

#[cfg(not(target_os = "linux"))]
fn rows() -> Vec<Row> {
    Vec::new()
}

/// `  0: 0100007F:EE49 0100007F:1F90 01 00000000:00000000 00:00000000 00000000  1000 0 12345 ...`
fn parse_row(line: &str, v6: bool) -> Option<Row> {
    let cols: Vec<&str> = line.split_whitespace().collect();
    if cols.len() < 10 {
        return None;
    }
    Some(Row {
        local: parse_addr(cols[1], v6)?,
        remote: parse_addr(cols[2], v6)?,
        // 0A = TCP_LISTEN.
        listening: cols[3] == "0A",
        uid: cols[7].parse().ok()?,
        inode: cols[9].to_owned(),
    })
}

/// `0100007F:1F90` (IPv4) or 32 hex digits `:port` (IPv6); each 32-bit word of the address is
/// in the host's byte order.
fn parse_addr(text: &str, v6: bool) -> Option<SocketAddr> {
    let (addr, port) = text.split_once(':')?;
    let port = u16::from_str_radix(port, 16).ok()?;
    let words: Vec<u32> = (0..addr.len() / 8)
        .map(|i| {
            addr.get(i * 8..i * 8 + 8)
                .and_then(|w| u32::from_str_radix(w, 16).ok())
        })
        .collect::<Option<_>>()?;
    let bytes: Vec<u8> = words.iter().flat_map(|w| w.to_ne_bytes()).collect();
    let ip = match (v6, bytes.len()) {
        (false, 4) => std::net::IpAddr::from(<[u8; 4]>::try_from(bytes).ok()?),
        (true, 16) => std::net::IpAddr::from(<[u8; 16]>::try_from(bytes).ok()?),
        _ => return None,
    };
    Some(SocketAddr::new(ip, port))
}

/// The process holding socket `inode`, as `name (pid N)`, when its descriptors are visible.
#[cfg(target_os = "linux")]
fn process_of(inode: &str) -> Option<String> {
    let wanted = format!("socket:[{inode}]");
    for entry in std::fs::read_dir("/proc").ok()?.flatten() {
        let pid = entry.file_name().to_string_lossy().into_owned();
        if !pid.bytes().all(|b| b.is_ascii_digit()) {
            continue;
        }
        let Ok(fds) = std::fs::read_dir(entry.path().join("fd")) else {
            continue;
        };
        for fd in fds.flatten() {
            if std::fs::read_link(fd.path()).is_ok_and(|l| l.to_string_lossy() == wanted) {
                let name = std::fs::read_to_string(entry.path().join("comm")).unwrap_or_default();
                return Some(format!("{} (pid {pid})", name.trim()));
            }
        }
    }
    None
}

#[cfg(not(target_os = "linux"))]
fn process_of(_inode: &str) -> Option<String> {
    None
}

/// A user's login name, from /etc/passwd.
fn user_name(uid: u32) -> Option<String> {
    let passwd = std::fs::read_to_string("/etc/passwd").ok()?;
    passwd.lines().find_map(|l| {
        let mut f = l.split(':');
        let name = f.next()?;
        (f.nth(1)?.parse::<u32>().ok()? == uid).then(|| name.to_owned())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_of_both_tables_parse() {
        let v4 = "   3: 0100007F:EE49 0100007F:EEE9 01 00000000:00000000 00:00000000 00000000  1000        0 4242 1 0";
        let row = parse_row(v4, false).unwrap();
        let lo = std::net::Ipv4Addr::LOCALHOST;
        if cfg!(target_endian = "little") {
            assert_eq!(row.local, SocketAddr::from((lo, 0xEE49)));
            assert_eq!(row.remote, SocketAddr::from((lo, 61161)));
        }
        assert_eq!(
            (row.uid, row.listening, row.inode.as_str()),
            (1000, false, "4242")
        );
        let v6 = "   0: 00000000000000000000000001000000:EEE9 00000000000000000000000000000000:0000 0A 00000000:00000000 00:00000000 00000000    65534        0 99 1 0";
        let row = parse_row(v6, true).unwrap();
        if cfg!(target_endian = "little") {
            assert_eq!(
                row.local,
                SocketAddr::from((std::net::Ipv6Addr::LOCALHOST, 61161))
            );
        }
        assert!(row.listening && row.uid == 65534);
        assert!(parse_row("garbage", false).is_none());
        assert!(
            parse_row(v4, true).is_none(),
            "a v4 address in the v6 table"
        );
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn the_peer_of_our_own_connection_is_us() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let local = listener.local_addr().unwrap();
        let client = std::net::TcpStream::connect(local).unwrap();
        let (_server, peer) = listener.accept().unwrap();
        assert_eq!(peer, client.local_addr().unwrap());
        assert_eq!(peer_uid(peer, local), Some(own_uid()));
        let h = holder(local.port()).unwrap();
        assert_eq!(h.uid, own_uid());
        assert!(h.process.unwrap().contains(&std::process::id().to_string()));
    }
}
