//! `cargo xtask bench gateway`: figures, not assertions.
//!
//! 1. Webhook ingest rate (signed simulator webhooks over loopback HTTP, each one
//!    transaction) on SQLite and on PostgreSQL, after as many earlier calls (and, on
//!    PostgreSQL, the statistics autovacuum would have gathered), next to pgbench's
//!    single-row commit rate on the same PostgreSQL in the same run (and SQLite's
//!    single-row commit rate on the same disk); and the CPU each costs per event and per
//!    commit, with the statements PostgreSQL's time goes to (pg_stat_statements, which
//!    `cargo xtask bench gateway` preloads in its throwaway cluster).
//! 2. Webhook -> WebSocket delivery latency (p50/p99) with 1,000 connected event-stream
//!    clients.
//! 3. `GET /v1/floor` latency with 1,000 agents and 10,000 calls today, against
//!    `GET /v1/agents` on the same data.
//! 4. On the same floor, a call event to the supervisor's board update with 100
//!    supervisors connected: each board hears the event on its stream and fetches the
//!    floor, as the desktop's board does; measured until the fetched floor is in hand.
//!
//! All loops are bounded; servers bind to 127.0.0.1.

#![allow(clippy::unwrap_used, clippy::print_stdout, dead_code)]

#[path = "../tests/support/mod.rs"]
mod support;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use futures_util::StreamExt;
use support::{SECRET, TestDb, TestGateway, inbound};
use switchboard_core::CallStatus;
use switchboard_telephony::signature;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

const CALLS: usize = 1_000; // x3 events each
const CONCURRENCY: usize = 16;
const FIRST_EVENTS: usize = 200;
const WS_CLIENTS: usize = 1_000;
const WS_EVENTS: usize = 200;
const FLOOR_AGENTS: usize = 1_000;
const FLOOR_CALLS: usize = 10_000;
const BOARDS: usize = 100;
const BOARD_EVENTS: usize = 20;

fn signed(ev: &switchboard_core::NormalizedCallEvent) -> (Vec<u8>, String) {
    let body = serde_json::to_vec(ev).unwrap();
    let sig = signature::sign(SECRET.as_bytes(), &body);
    (body, sig)
}

/// Post `ev` to the webhook `url`, signed; the gateway must acknowledge it.
async fn post_event(http: &reqwest::Client, url: &str, ev: &switchboard_core::NormalizedCallEvent) {
    let (body, sig) = signed(ev);
    let r = http
        .post(url)
        .header(signature::HEADER, sig)
        .body(body)
        .send()
        .await
        .unwrap();
    assert!(r.status().is_success(), "{}", r.status());
}

/// Send `calls` inbound calls to the gateway's simulator webhook, CONCURRENCY at once, call
/// `i` (vendor id `{prefix}{i}`) going through `story(i)`'s statuses.
async fn send_calls(gw: &TestGateway, prefix: &str, calls: usize, story: fn(usize) -> &'static [CallStatus]) {
    let url = format!("{}/webhooks/simulator/sim-1", gw.base);
    let http = reqwest::Client::new();
    let next = Arc::new(AtomicUsize::new(0));
    let mut tasks = vec![];
    for _ in 0..CONCURRENCY {
        let (http, url, next, prefix) = (http.clone(), url.clone(), next.clone(), prefix.to_owned());
        tasks.push(tokio::spawn(async move {
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= calls {
                    return;
                }
                for (n, st) in story(i).iter().enumerate() {
                    let ev = inbound(
                        &format!("{prefix}{i}"),
                        &format!("{}{i}-{n}", prefix.to_lowercase()),
                        1_000 + n as i64,
                        *st,
                        "+14155550100",
                    );
                    post_event(&http, &url, &ev).await;
                }
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
}

/// CPU seconds used so far by this process (the gateway under test and its webhook
/// senders share it) and by the PostgreSQL server: every process named `postgres`,
/// with what the postmaster has reaped of backends that already exited.
#[derive(Debug, Clone, Copy)]
struct Cpu {
    bench: f64,
    postgres: f64,
}

/// utime + stime (+ cutime + cstime with `children`) of `/proc/<pid>/stat`, in seconds.
fn proc_cpu(stat: &str, children: bool) -> Option<(String, f64)> {
    let (open, close) = (stat.find('(')?, stat.rfind(')')?);
    let comm = stat[open + 1..close].to_owned();
    // Fields after the comm: state is the 3rd of the file; utime is the 14th.
    let rest: Vec<&str> = stat[close + 2..].split(' ').collect();
    let ticks = |i: usize| rest.get(i - 3).and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0);
    let mut t = ticks(14) + ticks(15);
    if children {
        t += ticks(16) + ticks(17);
    }
    // The kernel's USER_HZ, 100 on every Linux this runs on.
    Some((comm, t / 100.0))
}

fn cpu_now() -> Cpu {
    let own = std::fs::read_to_string("/proc/self/stat").ok();
    let bench = own.as_deref().and_then(|s| proc_cpu(s, true)).map_or(0.0, |(_, t)| t);
    let postgres = std::fs::read_dir("/proc")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| std::fs::read_to_string(e.path().join("stat")).ok())
        .filter_map(|s| proc_cpu(&s, true))
        .filter(|(comm, _)| comm == "postgres")
        .map(|(_, t)| t)
        .sum();
    Cpu { bench, postgres }
}

/// CPU microseconds per event since `before`, for `events` events.
fn cpu_per(before: Cpu, events: usize) -> Cpu {
    let after = cpu_now();
    let us = |a: f64, b: f64| (a - b).max(0.0) * 1e6 / events as f64;
    Cpu {
        bench: us(after.bench, before.bench),
        postgres: us(after.postgres, before.postgres),
    }
}

/// What [`ingest`] measured.
struct Ingest {
    rate: f64,
    cpu: Cpu,
    /// A new call's first webhook, one at a time, with the live-call index and without.
    first_event: (Duration, Duration),
    /// Where PostgreSQL's time went, statement by statement (PostgreSQL only).
    statements: Vec<String>,
}

/// Events per second, and CPU per event: CALLS calls, each ringing -> answered ->
/// completed, CONCURRENCY at once. Then the first webhook of a new call with and without
/// the live-call index, on the same tables.
async fn ingest(kind: &str) -> Ingest {
    let db = TestDb::of(kind).await;
    let (gw, _) = TestGateway::start(&db, 1).await;
    let story: fn(usize) -> &'static [CallStatus] =
        |_| &[CallStatus::Ringing, CallStatus::Answered, CallStatus::Completed];
    // A gateway that has been running: earlier calls in its tables, and the planner
    // statistics autovacuum gathers within its first minute. Tables a moment old have
    // none, and the planner then took a scan of all the business's calls for the lookup
    // by vendor id: a figure of the first minute, not of a working day.
    send_calls(&gw, "H", CALLS, story).await;
    analyze(&db).await;
    statement_stats_reset(&db).await;
    let cpu = cpu_now();
    let started = Instant::now();
    send_calls(&gw, "B", CALLS, story).await;
    let rate = (CALLS * 3) as f64 / started.elapsed().as_secs_f64();
    let cpu = cpu_per(cpu, CALLS * 3);
    let statements = statement_stats(&db, CALLS * 3).await;
    let with_index = first_events(&gw, "N").await;
    drop_live_index(&db).await;
    let without = first_events(&gw, "M").await;
    drop(gw);
    db.cleanup().await;
    Ingest {
        rate,
        cpu,
        first_event: (with_index, without),
        statements,
    }
}

/// Start counting statements afresh (PostgreSQL with pg_stat_statements loaded; else
/// nothing, and [`statement_stats`] says why).
async fn statement_stats_reset(db: &TestDb) {
    use sqlx::Connection;
    if let TestDb::Postgres { .. } = db {
        let mut conn = sqlx::PgConnection::connect(db.url()).await.unwrap();
        let ready = sqlx::query("CREATE EXTENSION IF NOT EXISTS pg_stat_statements")
            .execute(&mut conn)
            .await
            .is_ok();
        if ready {
            // Fails when the library is not preloaded; statement_stats then says so.
            let _ = sqlx::query("SELECT pg_stat_statements_reset()")
                .execute(&mut conn)
                .await;
        }
    }
}

/// The statements that took most of PostgreSQL's time since [`statement_stats_reset`],
/// per event of `events`: how many times each ran and for how long (time inside the
/// statement, lock waits included, planning not), one line each.
async fn statement_stats(db: &TestDb, events: usize) -> Vec<String> {
    use sqlx::Connection;
    let TestDb::Postgres { .. } = db else { return Vec::new() };
    let mut conn = sqlx::PgConnection::connect(db.url()).await.unwrap();
    let rows: Result<Vec<(i64, f64, String)>, _> = sqlx::query_as(
        "SELECT calls, total_exec_time, regexp_replace(query, '\\s+', ' ', 'g') FROM pg_stat_statements \
         WHERE dbid = (SELECT oid FROM pg_database WHERE datname = current_database()) \
         AND query NOT LIKE '%pg_stat_statements%' ORDER BY total_exec_time DESC LIMIT 8",
    )
    .fetch_all(&mut conn)
    .await;
    let rows = match rows {
        Ok(rows) => rows,
        Err(e) => return vec![format!("(no statement figures: {e})")],
    };
    let n = events as f64;
    let total: f64 = rows.iter().map(|(_, ms, _)| ms).sum::<f64>() * 1e3 / n;
    let mut lines = vec![format!(
        "where PostgreSQL's time goes, per event (pg_stat_statements: time in the statement, waits included; top {} together {total:.0} us):",
        rows.len()
    )];
    for (calls, ms, query) in rows {
        lines.push(format!(
            "{:>5.2} runs x {:>4.0} us = {:>4.0} us  {}",
            calls as f64 / n,
            ms * 1e3 / calls.max(1) as f64,
            ms * 1e3 / n,
            statement_label(&query)
        ));
    }
    lines
}

/// A statement, short enough for a line: the webhook's own writes named by what they
/// write (their texts all begin with the receipt), others by their first 70 characters.
fn statement_label(query: &str) -> String {
    if query.starts_with("WITH receipt AS") {
        let what = if query.contains("INSERT INTO call_records") {
            "new call"
        } else {
            "call update"
        };
        return format!("webhook write, one statement: receipt + {what} + event");
    }
    let mut label: String = query.chars().take(70).collect();
    if query.chars().count() > 70 {
        label.push_str("...");
    }
    label
}

/// Median time to acknowledge the first webhook of FIRST_EVENTS new calls, sent one after
/// another: each is matched against the live calls on its service number (the fallback
/// lookup) before it becomes a call of its own.
async fn first_events(gw: &TestGateway, prefix: &str) -> Duration {
    let url = format!("{}/webhooks/simulator/sim-1", gw.base);
    let http = reqwest::Client::new();
    let mut times = Vec::with_capacity(FIRST_EVENTS);
    for i in 0..FIRST_EVENTS {
        let ev = inbound(
            &format!("{prefix}{i}"),
            &format!("{}{i}", prefix.to_lowercase()),
            1_000,
            CallStatus::Ringing,
            "+14155550100",
        );
        let t = Instant::now();
        post_event(&http, &url, &ev).await;
        times.push(t.elapsed());
    }
    times.sort_unstable();
    percentile(&times, 0.5)
}

/// The baseline of the live-call index: the same database without it.
async fn drop_live_index(db: &TestDb) {
    use sqlx::Connection;
    const DROP: &str = "DROP INDEX call_records_live";
    match db {
        TestDb::Postgres { .. } => {
            let mut conn = sqlx::PgConnection::connect(db.url()).await.unwrap();
            sqlx::query(DROP).execute(&mut conn).await.unwrap();
        }
        TestDb::Sqlite { .. } => {
            let mut conn = sqlx::SqliteConnection::connect(db.url()).await.unwrap();
            sqlx::query(DROP).execute(&mut conn).await.unwrap();
        }
    }
}

/// Gather PostgreSQL's planner statistics, as autovacuum does on a database in use.
/// SQLite is left as the gateway leaves it: nothing runs ANALYZE there.
async fn analyze(db: &TestDb) {
    use sqlx::Connection;
    if let TestDb::Postgres { .. } = db {
        let mut conn = sqlx::PgConnection::connect(db.url()).await.unwrap();
        sqlx::query("ANALYZE").execute(&mut conn).await.unwrap();
    }
}

/// Latency (p50, p99) of `GET path` as a supervisor, `n` requests one after another.
async fn get_latency(gw: &TestGateway, token: &str, path: &str, n: usize) -> (Duration, Duration) {
    let http = reqwest::Client::new();
    let mut times = Vec::with_capacity(n);
    for _ in 0..n {
        let t = Instant::now();
        let r = http
            .get(format!("{}{path}", gw.base))
            .bearer_auth(token)
            .send()
            .await
            .unwrap();
        assert!(r.status().is_success(), "{path}: {}", r.status());
        r.bytes().await.unwrap();
        times.push(t.elapsed());
    }
    times.sort();
    (percentile(&times, 0.5), percentile(&times, 0.99))
}

/// `GET /v1/floor` with FLOOR_AGENTS agents and FLOOR_CALLS calls today (a tenth of them
/// still ringing, the rest answered and completed, every twentieth abandoned), next to
/// `GET /v1/agents` (the same agents, no figures) as the baseline.
async fn floor_latency(kind: &str) -> ((Duration, Duration), (Duration, Duration)) {
    let db = TestDb::of(kind).await;
    let (gw, seeded) = TestGateway::start(&db, 1).await;
    for i in 0..FLOOR_AGENTS {
        gw.store
            .create_agent(
                seeded[0].business,
                &format!("agent{i:04}"),
                &format!("Agent {i}"),
                switchboard_core::AgentRole::Agent,
            )
            .await
            .unwrap();
    }
    send_calls(&gw, "B", FLOOR_CALLS, |i| match i % 20 {
        0 | 10 => &[CallStatus::Ringing],
        5 => &[CallStatus::Ringing, CallStatus::Abandoned],
        _ => &[CallStatus::Ringing, CallStatus::Answered, CallStatus::Completed],
    })
    .await;
    let token = support::token(&*gw.store, &seeded[0], "sam").await;
    let day_start = support::t0() - 60_000;
    let floor = get_latency(&gw, &token, &format!("/v1/floor?day_start={day_start}"), 50).await;
    let agents = get_latency(&gw, &token, "/v1/agents", 50).await;
    // Bounded: a board that never hears its events must not hold the run.
    match tokio::time::timeout(Duration::from_secs(120), board_latency(&gw, &seeded[0], day_start)).await {
        Ok(boards) => println!(
            "event -> board update, {kind:<8} {BOARDS} supervisors, same floor: p50 {:.1} ms, p99 {:.1} ms ({} updates)",
            boards.0.as_secs_f64() * 1e3,
            boards.1.as_secs_f64() * 1e3,
            boards.2
        ),
        Err(_) => println!("event -> board update, {kind:<8}: did not finish within 120 s"),
    }
    drop(gw);
    db.cleanup().await;
    (floor, agents)
}

/// BOARDS supervisors with their event streams open; BOARD_EVENTS call events one second
/// apart; for each, how long until every board has fetched the floor the event changed.
async fn board_latency(
    gw: &TestGateway,
    seeded: &switchboard_gateway::demo::Seeded,
    day_start: i64,
) -> (Duration, Duration, usize) {
    let since = gw.store.last_event_id(seeded.business).await.unwrap();
    let ws_url = format!("{}/v1/events?since={since}", gw.base.replacen("http", "ws", 1));
    let floor_url = format!("{}/v1/floor?day_start={day_start}", gw.base);
    let sent: Arc<Vec<OnceLock<Instant>>> = Arc::new((0..=BOARD_EVENTS).map(|_| OnceLock::new()).collect());
    let ready = Arc::new(tokio::sync::Semaphore::new(0));
    let http = reqwest::Client::new();
    let mut boards = vec![];
    for i in 0..BOARDS {
        let id = gw
            .store
            .create_agent(
                seeded.business,
                &format!("super{i:03}"),
                &format!("Supervisor {i}"),
                switchboard_core::AgentRole::Supervisor,
            )
            .await
            .unwrap();
        let token = switchboard_gateway::demo::issue_token(&*gw.store, id).await.unwrap();
        let mut req = ws_url.as_str().into_client_request().unwrap();
        req.headers_mut()
            .insert("authorization", format!("Bearer {token}").parse().unwrap());
        let (mut ws, _) =
            tokio_tungstenite::connect_async_with_config(req, Some(switchboard_client::ws_config()), false)
                .await
                .unwrap();
        let (sent, ready, http, floor_url) = (sent.clone(), ready.clone(), http.clone(), floor_url.clone());
        boards.push(tokio::spawn(async move {
            let mut lat = Vec::with_capacity(BOARD_EVENTS);
            while let Some(Ok(msg)) = ws.next().await {
                let Message::Text(text) = msg else { continue };
                let v: serde_json::Value = serde_json::from_str(&text).unwrap();
                let Some(n) = v["data"]["vendor_call_id"].as_str().and_then(|s| s.strip_prefix('W')) else {
                    continue;
                };
                let n: usize = n.parse().unwrap();
                // The board's refresh: the whole floor, as the desktop fetches it.
                let floor = http.get(&floor_url).bearer_auth(&token).send().await.unwrap();
                assert!(floor.status().is_success());
                let _ = floor.bytes().await.unwrap();
                if n == BOARD_EVENTS {
                    ready.add_permits(1); // warm-up: this board is subscribed
                    continue;
                }
                lat.push(Instant::now() - *sent[n].get().unwrap());
                if lat.len() == BOARD_EVENTS {
                    return lat;
                }
            }
            lat
        }));
    }
    let url = format!("{}/webhooks/simulator/sim-1", gw.base);
    // New calls (W…), not the floor's B… calls: a ringing event for a call that has
    // already ended changes nothing and reaches no stream, so the boards waited forever.
    let post = |i: usize| {
        let ev = inbound(
            &format!("W{i}"),
            &format!("w{i}"),
            1_000,
            CallStatus::Ringing,
            "+14155550100",
        );
        let (body, sig) = signed(&ev);
        http.post(&url).header(signature::HEADER, sig).body(body).send()
    };
    sent[BOARD_EVENTS].set(Instant::now()).unwrap();
    post(BOARD_EVENTS).await.unwrap();
    let _all = ready.acquire_many(BOARDS as u32).await.unwrap();
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    for i in 0..BOARD_EVENTS {
        tick.tick().await;
        sent[i].set(Instant::now()).unwrap();
        assert!(post(i).await.unwrap().status().is_success());
    }
    let mut all = vec![];
    for b in boards {
        all.extend(b.await.unwrap());
    }
    all.sort_unstable();
    (percentile(&all, 0.5), percentile(&all, 0.99), all.len())
}

/// pgbench: single-row INSERT commits per second with `clients` connections, 5 s, and
/// the CPU per commit (`bench` here is pgbench's own, a child of this process).
fn pgbench(clients: usize) -> (f64, Cpu) {
    let admin = std::env::var("DATABASE_URL").unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into());
    let name = format!("sb_bench_{}", std::process::id());
    let mut url = url::Url::parse(&admin).unwrap();
    url.set_path(&name);
    let psql = |u: &str, sql: &str| {
        std::process::Command::new("psql")
            .args([u, "-qc", sql])
            .env("PGOPTIONS", "--client-min-messages=warning")
            .status()
            .unwrap()
    };
    psql(&admin, &format!("DROP DATABASE IF EXISTS {name}"));
    psql(&admin, &format!("CREATE DATABASE {name}"));
    psql(
        url.as_str(),
        "CREATE TABLE rows (id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY, v TEXT NOT NULL)",
    );
    let script = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(script.path(), "INSERT INTO rows (v) VALUES ('x');\n").unwrap();
    let cpu = cpu_now();
    let out = std::process::Command::new("pgbench")
        .args(["-n", "-c", &clients.to_string(), "-j", "2", "-T", "5", "-f"])
        .arg(script.path())
        .arg(url.as_str())
        .output()
        .unwrap();
    let after = cpu_now();
    psql(&admin, &format!("DROP DATABASE IF EXISTS {name}"));
    let text = String::from_utf8_lossy(&out.stdout);
    let committed: f64 = text
        .lines()
        .find(|l| l.starts_with("number of transactions actually processed: "))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
        .unwrap_or(f64::NAN);
    let us = |a: f64, b: f64| (a - b).max(0.0) * 1e6 / committed;
    let cpu = Cpu {
        bench: us(after.bench, cpu.bench),
        postgres: us(after.postgres, cpu.postgres),
    };
    let rate = text
        .lines()
        .find(|l| l.starts_with("tps = "))
        .and_then(|l| l.split_whitespace().nth(2))
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| {
            panic!(
                "pgbench output not understood: {text} {}",
                String::from_utf8_lossy(&out.stderr)
            )
        });
    (rate, cpu)
}

/// SQLite's counterpart of pgbench: single-row INSERT commits per second for 3 s on one
/// connection set up as the gateway's writer is (WAL, `synchronous = FULL`), in a file
/// beside the benchmark's databases. Each commit waits for one WAL fsync.
async fn sqlite_commits() -> f64 {
    use sqlx::Executor;
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}?mode=rwc", dir.path().join("commits.db").display());
    sqlx::any::install_default_drivers();
    let mut conn = <sqlx::AnyConnection as sqlx::Connection>::connect(&url).await.unwrap();
    for pragma in [
        "PRAGMA journal_mode = WAL",
        "PRAGMA synchronous = FULL",
        "CREATE TABLE rows (id INTEGER PRIMARY KEY, v TEXT NOT NULL)",
    ] {
        conn.execute(pragma).await.unwrap();
    }
    let started = Instant::now();
    let mut commits = 0u32;
    while started.elapsed() < Duration::from_secs(3) {
        let mut tx = sqlx::Connection::begin(&mut conn).await.unwrap();
        sqlx::query("INSERT INTO rows (v) VALUES ('x')")
            .execute(&mut *tx)
            .await
            .unwrap();
        tx.commit().await.unwrap();
        commits += 1;
    }
    f64::from(commits) / started.elapsed().as_secs_f64()
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

/// The `i` of a bench call's vendor id `"L{i}"` in an event's JSON.
fn bench_call_number(text: &str) -> Option<usize> {
    const KEY: &str = "\"vendor_call_id\":\"L";
    let rest = &text[text.find(KEY)? + KEY.len()..];
    rest[..rest.find('"')?].parse().ok()
}

/// Webhook -> WebSocket latency with WS_CLIENTS connected clients, `rate` webhooks a
/// second offered.
async fn ws_latency(kind: &str, rate: u64) -> (Duration, Duration, usize) {
    let db = TestDb::of(kind).await;
    let (gw, seeded) = TestGateway::start(&db, 1).await;
    let token = support::token(&*gw.store, &seeded[0], "alice").await;
    let since = gw.store.last_event_id(seeded[0].business).await.unwrap();
    let sent: Arc<Vec<OnceLock<Instant>>> = Arc::new((0..=WS_EVENTS).map(|_| OnceLock::new()).collect());
    let ws_url = format!("{}/v1/events?since={since}", gw.base.replacen("http", "ws", 1));
    let ready = Arc::new(tokio::sync::Semaphore::new(0));
    let mut clients = vec![];
    for _ in 0..WS_CLIENTS {
        let mut req = ws_url.as_str().into_client_request().unwrap();
        req.headers_mut()
            .insert("authorization", format!("Bearer {token}").parse().unwrap());
        let (mut ws, _) =
            tokio_tungstenite::connect_async_with_config(req, Some(switchboard_client::ws_config()), false)
                .await
                .unwrap();
        let (sent, ready) = (sent.clone(), ready.clone());
        clients.push(tokio::spawn(async move {
            let mut lat = Vec::with_capacity(WS_EVENTS);
            while let Some(Ok(msg)) = ws.next().await {
                let Message::Text(text) = msg else { continue };
                let now = Instant::now();
                // These clients stand in for desktops on other machines (with the
                // desktop's socket settings): they find the event's number without
                // parsing the whole JSON, so that their own work on this machine's two
                // cores weighs as little as it can on the figure.
                let Some(i) = bench_call_number(&text) else { continue };
                if i == WS_EVENTS {
                    ready.add_permits(1); // the warm-up event: this client is subscribed
                    continue;
                }
                lat.push(now - *sent[i].get().unwrap());
                if lat.len() == WS_EVENTS {
                    return lat;
                }
            }
            lat
        }));
    }
    let http = reqwest::Client::new();
    let url = format!("{}/webhooks/simulator/sim-1", gw.base);
    let post = |i: usize| {
        let ev = inbound(
            &format!("L{i}"),
            &format!("l{i}"),
            1_000,
            CallStatus::Ringing,
            "+14155550100",
        );
        let (body, sig) = signed(&ev);
        http.post(&url).header(signature::HEADER, sig).body(body).send()
    };
    // Warm-up: every client has its subscription once it has seen this event.
    sent[WS_EVENTS].set(Instant::now()).unwrap();
    post(WS_EVENTS).await.unwrap();
    let _all = ready.acquire_many(WS_CLIENTS as u32).await.unwrap();
    let mut tick = tokio::time::interval(Duration::from_micros(1_000_000 / rate));
    for i in 0..WS_EVENTS {
        tick.tick().await;
        sent[i].set(Instant::now()).unwrap();
        assert!(post(i).await.unwrap().status().is_success());
    }
    let mut all = vec![];
    for c in clients {
        all.extend(c.await.unwrap());
    }
    all.sort_unstable();
    let samples = all.len();
    drop(gw);
    db.cleanup().await;
    (percentile(&all, 0.5), percentile(&all, 0.99), samples)
}

/// Which parts to run: `cargo xtask bench gateway [ingest] [floor] [ws]`, all by default.
fn wanted(part: &str) -> bool {
    let parts: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| ["ingest", "floor", "ws"].contains(&a.as_str()))
        .collect();
    parts.is_empty() || parts.iter().any(|p| p == part)
}

fn main() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    println!(
        "switchboard gateway benchmarks ({} cores)",
        std::thread::available_parallelism().map_or(1, |n| n.get())
    );
    if wanted("ingest") {
        let (pg1, _) = pgbench(1);
        let (pg16, commit) = pgbench(CONCURRENCY);
        let sqlite_commit_rate = rt.block_on(sqlite_commits());
        let sqlite = rt.block_on(ingest("sqlite"));
        let postgres = rt.block_on(ingest("postgres"));
        let (sqlite, sqlite_cpu, sqlite_first) = (sqlite.rate, sqlite.cpu, sqlite.first_event);
        let (postgres, event, postgres_first, statements) =
            (postgres.rate, postgres.cpu, postgres.first_event, postgres.statements);
        println!("pgbench single-row INSERT commits: {pg1:>8.0}/s with 1 client, {pg16:>8.0}/s with {CONCURRENCY}");
        println!(
            "  CPU per commit: PostgreSQL {:.0} us, pgbench {:.0} us",
            commit.postgres, commit.bench
        );
        println!(
            "SQLite single-row INSERT commits:  {sqlite_commit_rate:>8.0}/s (one connection, WAL, synchronous = FULL)"
        );
        println!(
            "webhook ingest, SQLite:            {sqlite:>8.0} events/s = {:.2}x SQLite's single-row commit rate \
             ({CONCURRENCY} concurrent senders)",
            sqlite / sqlite_commit_rate
        );
        println!(
            "  CPU per event: gateway and senders {:.0} us (SQLite in-process)",
            sqlite_cpu.bench
        );
        println!(
            "webhook ingest, PostgreSQL:        {postgres:>8.0} events/s = {:.2}x pgbench's {CONCURRENCY}-client commit rate",
            postgres / pg16
        );
        // Where the gap is: on a machine whose cores the senders, the gateway and the
        // server share, the rate is about cores / CPU per event.
        println!(
            "  CPU per event: PostgreSQL {:.0} us = {:.1}x a pgbench commit's; gateway and senders {:.0} us",
            event.postgres,
            event.postgres / commit.postgres,
            event.bench
        );
        for line in &statements {
            println!("  {line}");
        }
        let ms = |d: Duration| d.as_secs_f64() * 1e3;
        for (kind, (with, without)) in [("SQLite", sqlite_first), ("PostgreSQL", postgres_first)] {
            println!(
                "a new call's first webhook, {} calls earlier, {kind:<10}: median {:.2} ms with the live-call index, \
                 {:.2} ms without ({:.2}x)",
                CALLS * 2,
                ms(with),
                ms(without),
                ms(with) / ms(without)
            );
        }
    }
    if wanted("floor") {
        for kind in ["sqlite", "postgres"] {
            let ((f50, f99), (a50, a99)) = rt.block_on(floor_latency(kind));
            let ms = |d: Duration| d.as_secs_f64() * 1e3;
            println!(
                "GET /v1/floor, {kind:<8} {FLOOR_AGENTS} agents, {FLOOR_CALLS} calls today: p50 {:.1} ms, p99 {:.1} ms \
                 (GET /v1/agents: p50 {:.1} ms, p99 {:.1} ms; floor/agents p50 {:.1}x)",
                ms(f50),
                ms(f99),
                ms(a50),
                ms(a99),
                ms(f50) / ms(a50)
            );
        }
    }
    if wanted("ws") {
        for kind in ["sqlite", "postgres"] {
            for rate in [50, 200] {
                let (p50, p99, n) = rt.block_on(ws_latency(kind, rate));
                println!(
                    "webhook -> WebSocket, {kind:<8} {WS_CLIENTS} clients, {rate:>3} webhooks/s: p50 {:.1} ms, p99 {:.1} ms ({n} deliveries)",
                    p50.as_secs_f64() * 1e3,
                    p99.as_secs_f64() * 1e3
                );
            }
        }
    }
}
