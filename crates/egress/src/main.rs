//! `huiyi-egress`: the recording worker, one process per egress job.
//!
//! With no arguments it runs a job driven by JSON lines on stdin/stdout (see README.md);
//! `huiyi-egress --self-test <dir>` checks this machine's GStreamer instead.
//! Logs go to stderr (`RUST_LOG`, and `GST_DEBUG` for GStreamer's own).

mod catchup;
mod control;
mod event;
mod gate;
mod job;
mod keyframe;
mod layout;
mod pipeline;
mod rtp_in;
mod self_test;
mod sync;
mod worker;

fn main() {
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_ansi(false)
        .init();
    let args: Vec<String> = std::env::args().skip(1).collect();
    let code = match args.as_slice() {
        [] => worker::run(),
        [flag, dir] if flag == "--self-test" => self_test::run(std::path::Path::new(dir)),
        _ => {
            eprintln!("usage: huiyi-egress            (a job: JSON lines on stdin/stdout)\n       huiyi-egress --self-test <dir>");
            2
        }
    };
    std::process::exit(code);
}
