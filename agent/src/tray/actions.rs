//! What the tray's menu items do on the desktop: open the self-test page or the log folder,
//! run the environment check in a terminal. Programs are started detached and reaped by a
//! thread, so the tray never waits on them and never leaves zombies.

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use crate::error::{Error, Result};

/// The self-test page of the legacy API (served by the daemon on its fixed address).
pub const SELF_TEST_URL: &str = "http://127.0.0.1:61161/selftest";

/// Terminals tried for the environment check, in order, with the argument that makes each run
/// a command: Debian's alternative first (the user's chosen terminal), then the common ones.
const TERMINALS: &[(&str, &[&str])] = &[
    ("x-terminal-emulator", &["-e"]),
    ("gnome-terminal", &["--"]),
    ("konsole", &["-e"]),
    ("xfce4-terminal", &["-x"]),
    ("mate-terminal", &["-x"]),
    ("lxterminal", &["-e"]),
    ("xterm", &["-e"]),
];

/// A program and its arguments.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Launch {
    /// The program.
    pub program: PathBuf,
    /// Its arguments.
    pub args: Vec<OsString>,
}

/// The command that runs `card-agent doctor` in the first terminal `find` knows, keeping the
/// window open until the user presses Enter (a terminal closes when its command ends, and the
/// report would vanish unread). `None` when no terminal is installed.
pub fn doctor_in_terminal(
    exe: &Path,
    prompt: &str,
    find: impl Fn(&str) -> Option<PathBuf>,
) -> Option<Launch> {
    let (program, run_flag) = TERMINALS
        .iter()
        .find_map(|(name, flag)| find(name).map(|path| (path, *flag)))?;
    // The script is fixed; the executable's path and the prompt are passed as arguments, so
    // neither is ever parsed by the shell.
    let script = r#""$1" doctor; printf '\n%s ' "$2"; read -r _"#;
    let mut args: Vec<OsString> = run_flag.iter().map(OsString::from).collect();
    args.extend(
        ["sh", "-c", script, "card-agent-doctor"]
            .iter()
            .map(OsString::from),
    );
    args.push(exe.as_os_str().to_owned());
    args.push(OsString::from(prompt));
    Some(Launch { program, args })
}

/// "Press Enter to close" in the user's language.
pub fn close_prompt(lang: card_agent_protocol::Language) -> &'static str {
    match lang {
        card_agent_protocol::Language::En => "Press Enter to close this window.",
        card_agent_protocol::Language::ZhTw => "按 Enter 鍵關閉此視窗。",
    }
}

/// Finds a program on `PATH`.
pub fn find_on_path(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join(name))
        .find(|candidate| is_executable(candidate))
}

#[cfg(unix)]
fn is_executable(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

#[cfg(not(unix))]
fn is_executable(path: &Path) -> bool {
    path.is_file()
}

/// Opens a URL or a folder with the desktop's default application (`xdg-open`).
pub fn open(target: &str) -> Result<()> {
    spawn_detached(&Launch {
        program: PathBuf::from("xdg-open"),
        args: vec![OsString::from(target)],
    })
}

/// Opens the folder, creating it first (0700) so the file manager has something to show
/// before the daemon has written its first line.
pub fn open_folder(dir: &Path) -> Result<()> {
    if !dir.is_dir() {
        let mut builder = std::fs::DirBuilder::new();
        builder.recursive(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::DirBuilderExt;
            builder.mode(0o700);
        }
        builder
            .create(dir)
            .map_err(|e| Error::io(dir.display(), e))?;
    }
    open(&dir.to_string_lossy())
}

/// Runs the environment check in a terminal, or opens the self-test page when no terminal is
/// installed.
pub fn environment_check(lang: card_agent_protocol::Language) -> Result<()> {
    let exe = std::env::current_exe().map_err(|e| Error::io("card-agent executable", e))?;
    match doctor_in_terminal(&exe, close_prompt(lang), find_on_path) {
        Some(launch) => spawn_detached(&launch),
        None => {
            tracing::info!("no terminal found; opening the self-test page instead");
            open(SELF_TEST_URL)
        }
    }
}

/// Starts a program in its own process group with no stdin, and reaps it from a thread.
pub fn spawn_detached(launch: &Launch) -> Result<()> {
    let mut command = Command::new(&launch.program);
    command
        .args(&launch.args)
        .stdin(Stdio::null())
        .stdout(Stdio::null());
    #[cfg(unix)]
    {
        use std::os::unix::process::CommandExt;
        command.process_group(0);
    }
    let mut child = command
        .spawn()
        .map_err(|e| Error::io(launch.program.display(), e))?;
    std::thread::spawn(move || {
        let _ = child.wait();
    });
    Ok(())
}

#[cfg(test)]
// In tests a panic is the failure report; unwrap keeps the arrange/act/assert steps readable.
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn only(names: &'static [&'static str]) -> impl Fn(&str) -> Option<PathBuf> {
        move |name| {
            names
                .contains(&name)
                .then(|| PathBuf::from(format!("/usr/bin/{name}")))
        }
    }

    fn strings(launch: &Launch) -> Vec<String> {
        launch
            .args
            .iter()
            .map(|a| a.to_string_lossy().into_owned())
            .collect()
    }

    #[test]
    fn the_users_chosen_terminal_comes_first() {
        let exe = Path::new("/home/u/.local/bin/card-agent");
        let launch =
            doctor_in_terminal(exe, "Press Enter", only(&["xterm", "x-terminal-emulator"]))
                .unwrap();
        assert_eq!(
            launch.program,
            PathBuf::from("/usr/bin/x-terminal-emulator")
        );
        let args = strings(&launch);
        assert_eq!(args[..3], ["-e", "sh", "-c"]);
        assert!(args[3].contains("\"$1\" doctor"), "{}", args[3]);
        assert_eq!(
            args[4..],
            [
                "card-agent-doctor",
                "/home/u/.local/bin/card-agent",
                "Press Enter"
            ]
        );
    }

    #[test]
    fn each_terminal_gets_its_own_run_flag() {
        let exe = Path::new("/opt/card agent/card-agent");
        let flag = |names: &'static [&'static str]| {
            let launch = doctor_in_terminal(exe, "p", only(names)).unwrap();
            (
                launch
                    .program
                    .file_name()
                    .unwrap()
                    .to_string_lossy()
                    .into_owned(),
                strings(&launch)[0].clone(),
            )
        };
        assert_eq!(
            flag(&["gnome-terminal"]),
            ("gnome-terminal".into(), "--".into())
        );
        assert_eq!(flag(&["konsole", "xterm"]), ("konsole".into(), "-e".into()));
        assert_eq!(
            flag(&["xfce4-terminal"]),
            ("xfce4-terminal".into(), "-x".into())
        );
        assert_eq!(flag(&["xterm"]), ("xterm".into(), "-e".into()));
        // A path with a space stays one argument: it is never parsed by the shell.
        let launch = doctor_in_terminal(exe, "p", only(&["xterm"])).unwrap();
        assert!(launch
            .args
            .contains(&OsString::from("/opt/card agent/card-agent")));
    }

    #[test]
    fn no_terminal_means_no_launch() {
        assert_eq!(doctor_in_terminal(Path::new("/x"), "p", only(&[])), None);
    }

    #[cfg(unix)]
    #[test]
    fn the_doctor_script_runs_the_given_program_and_waits_for_enter() {
        // Run the terminal's command line without a terminal: `sh -c SCRIPT NAME EXE PROMPT`,
        // with a stand-in for card-agent that records its argument.
        let dir = tempfile::tempdir().unwrap();
        let fake = dir.path().join("fake agent");
        let out = dir.path().join("ran");
        std::fs::write(
            &fake,
            format!("#!/bin/sh\necho \"$1\" > '{}'\n", out.display()),
        )
        .unwrap();
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&fake, std::fs::Permissions::from_mode(0o755)).unwrap();
        let launch = doctor_in_terminal(&fake, "Press Enter", only(&["xterm"])).unwrap();
        // Skip the terminal's run flag: what remains is `sh -c SCRIPT ...`.
        let output = Command::new(&launch.args[1])
            .args(&launch.args[2..])
            .stdin(Stdio::null())
            .output()
            .unwrap();
        assert!(
            output.status.success() || output.status.code() == Some(1),
            "{output:?}"
        );
        assert_eq!(std::fs::read_to_string(&out).unwrap(), "doctor\n");
        assert!(String::from_utf8_lossy(&output.stdout).contains("Press Enter"));
    }
}
