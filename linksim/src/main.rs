//! linksim: run the link-emulating proxy from the command line (see docs/WIFI.md).

use std::net::SocketAddr;
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use argh::FromArgs;
use linksim::{parse_rate_bps, LinkShape, Proxy};

/// Forward TCP connections through an emulated slow link (bandwidth cap, delay with jitter,
/// loss as retransmission stalls). Runs until SIGINT or SIGTERM.
#[derive(FromArgs)]
struct Args {
    /// address to listen on (default 127.0.0.1:6555)
    #[argh(option, default = "String::from(\"127.0.0.1:6555\")")]
    listen: String,
    /// server to forward to (default 127.0.0.1:5555)
    #[argh(option, default = "String::from(\"127.0.0.1:5555\")")]
    upstream: String,
    /// bandwidth server -> client, e.g. 3M or 500k bits per second; 0 = uncapped (default 3M)
    #[argh(option, default = "String::from(\"3M\")")]
    rate: String,
    /// one-way delay in milliseconds (default 20)
    #[argh(option, default = "20")]
    delay_ms: u64,
    /// delay varies by up to this many milliseconds either way (default 10)
    #[argh(option, default = "10")]
    jitter_ms: u64,
    /// percent of forward segments lost and retransmitted one round trip later (default 1)
    #[argh(option, default = "1.0")]
    loss_percent: f64,
    /// longest queue at the bottleneck in milliseconds before the sender is pushed back
    /// (default 50)
    #[argh(option, default = "50")]
    queue_ms: u64,
    /// change the rate at a time: SECONDS=RATE, e.g. 60=50M; repeatable
    #[argh(option)]
    at: Vec<String>,
    /// seconds between counter lines on stderr (default 5; 0 = none)
    #[argh(option, default = "5")]
    report_s: u64,
}

fn main() -> ExitCode {
    env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("info")).init();
    let args: Args = argh::from_env();
    match run(&args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("linksim: {e}");
            ExitCode::from(2)
        }
    }
}

fn run(args: &Args) -> Result<(), String> {
    let listen: SocketAddr = args
        .listen
        .parse()
        .map_err(|e| format!("--listen {:?}: {e}", args.listen))?;
    let upstream: SocketAddr = args
        .upstream
        .parse()
        .map_err(|e| format!("--upstream {:?}: {e}", args.upstream))?;
    let rate_bps = parse_rate_bps(&args.rate).map_err(|e| format!("--rate: {e}"))?;
    if !(0.0..=100.0).contains(&args.loss_percent) {
        return Err(format!(
            "--loss-percent {} is not 0 to 100",
            args.loss_percent
        ));
    }
    let mut schedule = args
        .at
        .iter()
        .map(|item| parse_change(item).map_err(|e| format!("--at {item:?}: {e}")))
        .collect::<Result<Vec<_>, _>>()?;
    schedule.sort_by_key(|change| change.0);

    let delay = Duration::from_millis(args.delay_ms);
    let shape = LinkShape {
        rate_bps,
        delay,
        jitter: Duration::from_millis(args.jitter_ms),
        loss_percent: args.loss_percent,
        retransmit_delay: 2 * delay,
        queue: Duration::from_millis(args.queue_ms),
    };
    let proxy = Proxy::start(listen, upstream, shape)
        .map_err(|e| format!("cannot listen on {listen}: {e}"))?;
    log::info!(
        "{} -> {upstream}: {} bit/s, {} ± {} ms, {} % loss, {} ms queue",
        proxy.local_addr(),
        rate_bps,
        args.delay_ms,
        args.jitter_ms,
        args.loss_percent,
        args.queue_ms
    );

    let stop = Arc::new(AtomicBool::new(false));
    for signal in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
        signal_hook::flag::register(signal, Arc::clone(&stop))
            .map_err(|e| format!("cannot handle signal {signal}: {e}"))?;
    }
    let started = Instant::now();
    let mut last_report = Instant::now();
    let mut last_bytes = 0;
    let mut pending = schedule.into_iter().peekable();
    while !stop.load(Ordering::Relaxed) {
        std::thread::sleep(Duration::from_millis(50));
        while let Some((at, rate)) = pending.next_if(|(at, _)| started.elapsed() >= *at) {
            log::info!("t={:.0} s: rate now {rate} bit/s", at.as_secs_f64());
            proxy.set_rate_bps(rate);
        }
        let since = last_report.elapsed();
        if args.report_s > 0 && since >= Duration::from_secs(args.report_s) {
            let counters = proxy.counters();
            let bytes = counters.forward_bytes.load(Ordering::Relaxed);
            log::info!(
                "forward {:.2} Mbit/s, {} connections, {} segments lost",
                (bytes - last_bytes) as f64 * 8.0 / since.as_secs_f64() / 1e6,
                counters.connections.load(Ordering::Relaxed),
                counters.lost_segments.load(Ordering::Relaxed)
            );
            last_bytes = bytes;
            last_report = Instant::now();
        }
    }
    Ok(())
}

fn parse_change(text: &str) -> Result<(Duration, u64), String> {
    let (seconds, rate) = text
        .split_once('=')
        .ok_or("expected SECONDS=RATE, e.g. 60=50M")?;
    let seconds: f64 = seconds
        .parse()
        .map_err(|_| format!("{seconds:?} is not a number of seconds"))?;
    if !seconds.is_finite() || seconds < 0.0 {
        return Err(format!("{seconds} is not a time from the start"));
    }
    Ok((Duration::from_secs_f64(seconds), parse_rate_bps(rate)?))
}
