//! Measure 1: what the agent adds to a signature. The same SoftHSM2 RSA-2048 key signs the same
//! 4 KB (SHA-256, PKCS#1 v1.5) four ways, interleaved in blocks so that a change in the
//! machine's load touches all four alike:
//!
//! - direct C_Sign on a session that is already open and logged in;
//! - direct C_OpenSession + C_Login + C_FindObjects + C_Sign + C_Logout + C_CloseSession, which
//!   is what the agent does for every operation (a card's session does not survive removal,
//!   and each signature is authorised by its own PIN);
//! - a connection straight to the daemon's socket (IPC → daemon → SoftHSM);
//! - the full path a browser takes: native-messaging frames → native host process → IPC →
//!   daemon → SoftHSM. A page may not send the PIN (the agent's dialog asks), and timing a
//!   dialog would time a person, so the full path is composed: the IPC sign of a local
//!   program (PIN in the request) plus the native host's hop, measured interleaved as
//!   `version` through the host − `version` over IPC.
//!
//! The agent's own share is taken from pairs (`stats::Paired`): in each round a block of IPC
//! signs beside a block of direct session + login + sign (in turn first), the difference of
//! their medians, and each `version` through the host beside one over IPC; the figure is the
//! median over the pairs. The difference of the medians over the whole measure is printed
//! beside it.

use std::time::Instant;

use card_agent_protocol::encoding::encode_base64;

use crate::setup::{self, AgentDaemon, Direct, Fixtures, IpcClient};

use crate::stats::{self, fmt, Paired, Samples};

/// Issue 16's goal for the agent's own share of a signature.
const OWN_SHARE_GOAL: &str = "< 0.3 ms";
const OWN_SHARE_LIMIT: std::time::Duration = std::time::Duration::from_micros(300);

/// Rounds of interleaved blocks, and operations per block and way.
const ROUNDS: usize = 20;
const BLOCK: usize = 20;

pub fn run(fixtures: &Fixtures) -> Result<(), String> {
    let name = "sign: the agent's own share per signature (median; full path − the token's own session, login and sign)";
    let hsm = fixtures.hsm().inspect_err(|e| skip(name, e))?;
    let agent = AgentDaemon::start(hsm)?;
    let direct = Direct::open(hsm)?;
    let data = setup::sign_data();
    let data_b64 = encode_base64(&data);
    let thumb = setup::sign_thumbprint(hsm)?;
    let mut host = agent.host()?;
    let mut ipc = agent.ipc()?;

    // The same key, the same data: the four ways must give the same signature (PKCS#1 v1.5
    // is deterministic), or this compares different things.
    let expected = {
        let (session, key) = direct.logged_in()?;
        let s = Direct::sign(&session, key, &data)?;
        let _ = session.logout();
        s
    };
    let reply = ipc.call(&setup::sign_request(0, &thumb, &data_b64))?;
    let via_host = setup::expect_result(&reply)?["signature"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    if via_host != encode_base64(&expected) {
        return Err("the agent's signature differs from the direct C_Sign's".to_owned());
    }

    // The agent's library in this process, on the same token: what the daemon does before the
    // token signs (find the certificate by thumbprint: list tokens, read every certificate).
    let core = card_agent::card_core::CardCore::open(&card_agent::card_core::CoreOptions {
        command_line_modules: vec![card_agent_testbed::softhsm::SOFTHSM_MODULE.into()],
        ..Default::default()
    })
    .map_err(|e| e.to_string())?;
    let mut find = Samples::default();
    let (mut open_close, mut login) = (Samples::default(), Samples::default());
    let mut ipc_version = Samples::default();
    let (mut logged_in, mut fresh, mut via_ipc, mut full) = (
        Samples::default(),
        Samples::default(),
        Samples::default(),
        Samples::default(),
    );
    let mut as_agent = Samples::default();
    let (mut own_pairs, mut hop_pairs) = (Paired::default(), Paired::default());
    let mut id = 1;
    for round in 0..ROUNDS {
        {
            let (session, key) = direct.logged_in()?;
            for _ in 0..BLOCK {
                let t = Instant::now();
                Direct::sign(&session, key, &data)?;
                logged_in.push(t.elapsed());
            }
            let _ = session.logout();
        }
        for _ in 0..BLOCK {
            let t = Instant::now();
            direct.open_close()?;
            open_close.push(t.elapsed());
        }
        {
            let session = direct.session()?;
            for _ in 0..BLOCK {
                let t = Instant::now();
                Direct::login_logout(&session)?;
                login.push(t.elapsed());
            }
        }
        for _ in 0..BLOCK {
            let t = Instant::now();
            core.find_certificate(Some(&thumb))
                .map_err(|e| e.to_string())?;
            find.push(t.elapsed());
        }
        for _ in 0..BLOCK {
            let t = Instant::now();
            direct.sign_as_the_agent_does(&data)?;
            as_agent.push(t.elapsed());
        }
        // The token's own calls and the agent's whole path, a block of each, in turn first:
        // the difference of the two blocks' medians is the agent's share at that moment. Not
        // one by one: SoftHSM reads every object file of its token again when another process
        // changed the token (each login does), so alternating single signatures would make
        // both sides pay that every time; in a block only its first signature does.
        let (mut round_direct, mut round_agent) = (Samples::default(), Samples::default());
        for turn in [round % 2 == 0, round % 2 == 1] {
            for _ in 0..BLOCK {
                if turn {
                    round_direct.push(direct.time_fresh(&data, 1)?);
                } else {
                    id += 1;
                    let request = setup::sign_request(id, &thumb, &data_b64);
                    round_agent.push(time_ipc(&mut ipc, &request)?);
                }
            }
        }
        own_pairs.push(round_agent.median(), round_direct.median());
        fresh.extend(&round_direct);
        via_ipc.extend(&round_agent);
        for _ in 0..BLOCK {
            id += 1;
            let version =
                serde_json::json!({"id": id, "command": "version", "origin": setup::ORIGIN});
            let t = Instant::now();
            let (_, reply) = host.call(&version)?;
            let through_host = t.elapsed();
            full.push(through_host);
            setup::expect_result(&reply)?;
            let t = Instant::now();
            let reply = ipc.call(&version)?;
            let over_ipc = t.elapsed();
            ipc_version.push(over_ipc);
            hop_pairs.push(through_host, over_ipc);
            setup::expect_result(&reply)?;
        }
    }
    drop((host, ipc, core));

    stats::table(
        "1. Sign round trip vs direct cryptoki (SoftHSM2 RSA-2048, 4 KB, SHA-256, PKCS#1 v1.5)",
    );
    stats::report("direct: C_Sign on a logged-in session", &logged_in);
    stats::report("direct: open + close a session (nothing else)", &open_close);
    stats::report(
        "direct: login + logout on an open session (nothing else)",
        &login,
    );
    stats::report(
        "direct: open session + login + find key + sign + logout + close",
        &fresh,
    );
    stats::report(
        "direct: the agent's token calls (C_GetTokenInfo, then the line above)",
        &as_agent,
    );
    stats::report(
        "agent's library alone: find the certificate by thumbprint (list tokens, read certificates)",
        &find,
    );
    stats::report("agent: IPC → daemon → SoftHSM (no native host)", &via_ipc);
    stats::report(
        "native host: `version` through the host (frames → host → IPC → daemon)",
        &full,
    );
    stats::report("native host: `version` over IPC (no host)", &ipc_version);
    let sign = logged_in.median();
    let host_hop = full.median().saturating_sub(ipc_version.median());
    // The full path a browser takes, composed (see the module's comment).
    let full_path = via_ipc.median() + host_hop;
    let added = full_path.saturating_sub(sign);
    // The agent's own share from the pairs: each IPC sign less the direct one beside it, and
    // each `version` through the host less the one over IPC beside it (see `Paired`).
    let own = own_pairs.median() + hop_pairs.median();
    // The same as a difference of medians over the whole measure, as before the pairs.
    let own_unpaired = full_path.saturating_sub(fresh.median());
    // The same, counting the state read the PIN rules require as the token's work.
    let beyond_token_calls = full_path.saturating_sub(as_agent.median());
    let session_login = fresh.median().saturating_sub(sign);
    let pct = |d: std::time::Duration| 100.0 * d.as_secs_f64() / sign.as_secs_f64();
    stats::note(&format!(
        "Added cost at the median, full path − direct C_Sign: **{}** ({:.0} % of the SoftHSM \
         sign). Of that, the fresh session and login per operation (the token's own work, \
         which the agent does on purpose): {} ({:.0} %); the agent's own share, full path − \
         direct session + login + sign, the median of back-to-back pairs: **{}** ({:.0} %; \
         as the difference of the two medians over the whole measure: {}); the native host hop (`version` \
         through the host − over IPC): {}; finding the certificate again for each request (token list and \
         every certificate read from the module): {}. Counting the token state read that the PIN \
         rules require before each login (C_GetTokenInfo) as the token's work, the agent's share \
         beyond the calls it makes on the token: **{}**.",
        fmt(added),
        pct(added),
        fmt(session_login),
        pct(session_login),
        fmt(own),
        pct(own),
        fmt(own_unpaired),
        fmt(host_hop),
        fmt(find.median()),
        fmt(beyond_token_calls),
    ));
    stats::goal_check(
        name,
        OWN_SHARE_GOAL,
        format!(
            "agent's own share {} ({:.0} % of a SoftHSM sign; median of back-to-back pairs; as a \
             difference of medians {}); full path − C_Sign {} ({:.0} %), \
             of it the token's own session + login {}; beyond every token call the agent makes \
             (the PIN rules' state read included) {}",
            fmt(own),
            pct(own),
            fmt(own_unpaired),
            fmt(added),
            pct(added),
            fmt(session_login),
            fmt(beyond_token_calls),
        ),
        own < OWN_SHARE_LIMIT,
        "see the sign section",
    );
    Ok(())
}

fn skip(name: &str, why: &str) {
    stats::goal(
        name,
        OWN_SHARE_GOAL,
        "-".to_owned(),
        stats::Verdict::Skipped(why.to_owned()),
    );
}

/// One sign request over IPC, timed; its answer must be a signature.
fn time_ipc(
    ipc: &mut IpcClient,
    request: &serde_json::Value,
) -> Result<std::time::Duration, String> {
    let t = Instant::now();
    let reply = ipc.call(request)?;
    let took = t.elapsed();
    setup::expect_result(&reply)?;
    Ok(took)
}
