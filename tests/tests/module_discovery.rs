//! Which module reads the card: the open GPKI module under its release names, the same card
//! through two modules, and a module in the downloads folder. Two copies of the wrapper
//! module (`tests/p11-wrap`) stand in for HiCOS and open-gpki-pkcs11.

use card_agent_testbed::agent::{agent_bin, run};
use card_agent_testbed::p11_wrap::{self, Wrapper};
use card_agent_testbed::softhsm::{Options, SoftHsm};

/// The same card read by HiCOS and by open-gpki-pkcs11 (two copies of the wrapper, under
/// their release names, in front of one token): it appears once, read through the module
/// listed first (HiCOS among the usual places, the config's order when it names them); every
/// module is listed with its version, and doctor names it and the module left out.
#[test]
fn one_card_through_two_modules_appears_once_through_the_first() {
    let hsm = SoftHsm::new(Options::default());
    let wrap = Wrapper::new(hsm.dir());
    wrap.set("library_description = open-gpki-pkcs11\nlibrary_version = 1.4\n");
    let dir = hsm.dir().join("modules");
    std::fs::create_dir(&dir).expect("modules folder");
    let hicos = dir.join("libHicos_p11.so");
    let gpki_name = card_agent::pkcs11::open_gpki::this_machine()[0];
    let gpki = dir.join(gpki_name);
    for copy in [&hicos, &gpki] {
        std::fs::copy(p11_wrap::module(), copy).expect("copy the wrapper");
    }
    let list = |order: [&std::path::Path; 2]| {
        let config = hsm.dir().join("config.toml");
        let value = |p: &std::path::Path| format!("{:?}", p.display().to_string());
        std::fs::write(
            &config,
            format!(
                "pkcs11_modules = [{}, {}]\n",
                value(order[0]),
                value(order[1])
            ),
        )
        .expect("config");
        let mut cli = hsm.command(agent_bin());
        wrap.env(&mut cli);
        cli.arg("--config").arg(&config).args(["list", "--json"]);
        let r = run(cli, b"");
        assert_eq!(r.code, 0, "{r:?}");
        r.json()
    };
    let listed = list([&hicos, &gpki]);
    let tokens = listed["tokens"].as_array().expect("tokens");
    assert_eq!(tokens.len(), 1, "{listed:#}");
    assert_eq!(tokens[0]["module"], hicos.display().to_string());
    let modules = listed["modules"].as_array().expect("modules");
    assert_eq!(modules.len(), 2);
    for m in modules {
        assert_eq!(m["loaded"], true, "{m}");
        assert_eq!(m["version"], "1.4", "{m}");
        assert_eq!(m["description"], "open-gpki-pkcs11", "{m}");
    }
    let listed = list([&gpki, &hicos]);
    assert_eq!(listed["tokens"].as_array().expect("tokens").len(), 1);
    assert_eq!(listed["tokens"][0]["module"], gpki.display().to_string());

    let mut cli = hsm.command(agent_bin());
    wrap.env(&mut cli);
    cli.arg("--config")
        .arg(hsm.dir().join("config.toml"))
        .args(["--lang", "en", "doctor", "--json"]);
    let report = run(cli, b"").json();
    let module = report["checks"]
        .as_array()
        .expect("checks")
        .iter()
        .find(|c| c["id"] == "module")
        .expect("module check")
        .to_string();
    assert!(
        module.contains(gpki_name) && module.contains("open-gpki-pkcs11 1.4"),
        "{module}"
    );
    // The token check names the module left out, the one used, and where the order is set.
    let token = report["checks"]
        .as_array()
        .expect("checks")
        .iter()
        .find(|c| c["id"] == "token")
        .expect("token check")
        .to_string();
    let used = format!("card-agent uses {}", gpki.display());
    let left_out = format!("also read through {}", hicos.display());
    assert!(
        token.contains(&used) && token.contains(&left_out) && token.contains("pkcs11_modules"),
        "{token}"
    );
}

/// open-gpki-pkcs11 unpacked in the downloads folder: found, never loaded from there (any page
/// can save a file there), and doctor gives the command that installs it where card-agent
/// finds it; once installed there, it is loaded by itself.
#[test]
fn a_downloaded_open_gpki_module_is_found_and_its_install_command_given() {
    let hsm = SoftHsm::new(Options::default());
    let wrap = Wrapper::new(hsm.dir());
    let home = hsm.dir().join("home");
    let name = card_agent::pkcs11::open_gpki::this_machine()[0];
    let unpacked = home.join("Downloads/open-gpki-pkcs11-v1.4.0");
    std::fs::create_dir_all(&unpacked).expect("downloads");
    std::fs::copy(p11_wrap::module(), unpacked.join(name)).expect("the download");
    let agent = |args: &[&str]| {
        let mut cli = hsm.command(agent_bin());
        wrap.env(&mut cli);
        cli.env("HOME", &home)
            .env("XDG_CONFIG_HOME", home.join(".config"))
            .env_remove("CARD_AGENT_PKCS11_MODULE")
            .env("CARD_AGENT_CONFIG", hsm.dir().join("empty.toml"))
            .args(["--lang", "en"])
            .args(args);
        run(cli, b"")
    };
    std::fs::write(hsm.dir().join("empty.toml"), "").expect("config");
    let listed = agent(&["list", "--json"]).json();
    let from_downloads = unpacked.join(name).display().to_string();
    assert!(
        !listed["modules"].to_string().contains(&from_downloads),
        "never loaded from the downloads: {listed:#}"
    );
    let report = agent(&["doctor", "--json"]).json();
    let module = report["checks"]
        .as_array()
        .expect("checks")
        .iter()
        .find(|c| c["id"] == "module")
        .expect("module check")
        .clone();
    // The item names the download and the command (it is also the check's fix when no other
    // module works; this machine may have OpenSC in the usual places).
    let install = format!("install -D -m 0755 '{from_downloads}' ~/.local/lib/{name}");
    let item = module["items"]
        .as_array()
        .expect("items")
        .iter()
        .find(|i| i["text"].as_str().is_some_and(|t| t.contains("downloads")))
        .unwrap_or_else(|| panic!("the download is named: {module:#}"));
    assert!(
        item["text"].as_str().expect("text").contains(&install),
        "{item}"
    );
    assert_eq!(item["status"], "warning");

    // Installed as doctor says: found by itself, and it reads the card.
    let installed = home.join(".local/lib").join(name);
    std::fs::create_dir_all(home.join(".local/lib")).expect("lib folder");
    std::fs::copy(unpacked.join(name), &installed).expect("install");
    let listed = agent(&["list", "--json"]).json();
    assert_eq!(
        listed["tokens"][0]["module"],
        installed.display().to_string(),
        "{listed:#}"
    );
}
