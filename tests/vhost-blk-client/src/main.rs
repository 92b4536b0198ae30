//! vhost-blk-client: drives any vhost-user-blk backend without a VM,
//! through libblkio's virtio-blk-vhost-user driver.
//!
//!   vhost-blk-client verify --socket PATH --disk FILE [--queues N]
//!       [--seconds S | --requests N] [--seed X] [--iodepth D]
//!       [--max-size BYTES] [--remap-every N] [--timeout S]
//!   vhost-blk-client bench --socket PATH [--queues N]
//!       --pattern randread|randwrite|seqread|seqwrite --bs BYTES
//!       --iodepth D --seconds S [--warmup S] [--spin] [--seed X]
//!   vhost-blk-client info --socket PATH
//!
//! Exit status: 0 on success, 1 on a mismatch or IO error, 2 on a usage or
//! connection error.

mod bench;
mod dev;
mod rng;
mod verify;

use std::collections::HashMap;
use std::process::ExitCode;

const USAGE: &str = "usage:
  vhost-blk-client verify --socket PATH --disk FILE [--queues N] [--seconds S | --requests N]
                          [--seed X] [--iodepth D] [--max-size BYTES] [--remap-every N] [--timeout S]
  vhost-blk-client bench  --socket PATH [--queues N] --pattern randread|randwrite|seqread|seqwrite
                          --bs BYTES --iodepth D --seconds S [--warmup S] [--spin] [--seed X]
  vhost-blk-client info   --socket PATH";

struct Args(HashMap<String, String>);

impl Args {
    /// `--key value` pairs; `flags` take no value.
    fn parse(argv: &[String], valued: &[&str], flags: &[&str]) -> Result<Args, String> {
        let mut m = HashMap::new();
        let mut i = 0;
        while i < argv.len() {
            let a = &argv[i];
            let key = a
                .strip_prefix("--")
                .ok_or_else(|| format!("unexpected argument {a:?}"))?;
            let (key, inline) = match key.split_once('=') {
                Some((k, v)) => (k, Some(v.to_string())),
                None => (key, None),
            };
            if flags.contains(&key) {
                m.insert(key.to_string(), "1".to_string());
            } else if valued.contains(&key) {
                let v = match inline {
                    Some(v) => v,
                    None => {
                        i += 1;
                        argv.get(i).cloned().ok_or_else(|| format!("--{key} needs a value"))?
                    }
                };
                m.insert(key.to_string(), v);
            } else {
                return Err(format!("unknown option --{key}"));
            }
            i += 1;
        }
        Ok(Args(m))
    }
    fn str(&self, k: &str) -> Result<String, String> {
        self.0.get(k).cloned().ok_or_else(|| format!("--{k} is required"))
    }
    fn opt<T: std::str::FromStr>(&self, k: &str) -> Result<Option<T>, String> {
        match self.0.get(k) {
            None => Ok(None),
            Some(v) => parse_num(v).map(Some).ok_or_else(|| format!("bad value for --{k}: {v:?}")),
        }
    }
    fn num<T: std::str::FromStr>(&self, k: &str, default: T) -> Result<T, String> {
        Ok(self.opt(k)?.unwrap_or(default))
    }
    fn flag(&self, k: &str) -> bool {
        self.0.contains_key(k)
    }
}

/// Numbers with an optional K/M/G suffix (powers of 1024) or 0x prefix.
fn parse_num<T: std::str::FromStr>(v: &str) -> Option<T> {
    if let Ok(x) = v.parse() {
        return Some(x);
    }
    let mult = match v.chars().last()? {
        'k' | 'K' => 1u64 << 10,
        'm' | 'M' => 1 << 20,
        'g' | 'G' => 1 << 30,
        _ => 1,
    };
    let n = if mult > 1 {
        v[..v.len() - 1].parse::<u64>().ok()?.checked_mul(mult)?
    } else {
        u64::from_str_radix(v.strip_prefix("0x")?, 16).ok()?
    };
    n.to_string().parse().ok()
}

fn default_seed() -> u64 {
    let t = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    t.as_nanos() as u64 ^ (std::process::id() as u64) << 32
}

fn run(argv: &[String]) -> Result<bool, String> {
    let sub = argv.first().map(String::as_str).unwrap_or("");
    let rest = argv.get(1..).unwrap_or(&[]);
    match sub {
        "verify" => {
            let a = Args::parse(
                rest,
                &[
                    "socket", "disk", "queues", "seconds", "requests", "seed", "iodepth",
                    "max-size", "remap-every", "timeout",
                ],
                &[],
            )?;
            let seconds: Option<f64> = a.opt("seconds")?;
            let requests: Option<u64> = a.opt("requests")?;
            if seconds.is_some() && requests.is_some() {
                return Err("give --seconds or --requests, not both".into());
            }
            let o = verify::Opts {
                socket: a.str("socket")?,
                disk: a.str("disk")?,
                queues: a.num("queues", 1)?,
                iodepth: a.num("iodepth", 32)?,
                seconds: if requests.is_none() { Some(seconds.unwrap_or(5.0)) } else { None },
                requests,
                seed: a.num("seed", default_seed())?,
                max_len: a.num("max-size", 1usize << 20)?,
                timeout: a.num("timeout", 30.0)?,
                remap_every: a.num("remap-every", 5000)?,
            };
            if o.queues == 0 || o.iodepth == 0 {
                return Err("--queues and --iodepth must be at least 1".into());
            }
            eprintln!("verify: seed {} (replay with --seed {})", o.seed, o.seed);
            verify::run(&o)
        }
        "bench" => {
            let a = Args::parse(
                rest,
                &[
                    "socket", "queues", "pattern", "bs", "iodepth", "seconds", "warmup", "seed",
                    "timeout",
                ],
                &["spin"],
            )?;
            let p = a.str("pattern")?;
            let o = bench::Opts {
                socket: a.str("socket")?,
                queues: a.num("queues", 1)?,
                pattern: bench::Pattern::parse(&p).ok_or_else(|| format!("bad --pattern {p:?}"))?,
                bs: a.num("bs", 4096)?,
                iodepth: a.num("iodepth", 1)?,
                seconds: a.num("seconds", 5.0)?,
                warmup: a.num("warmup", 0.5)?,
                seed: a.num("seed", 1)?,
                spin: a.flag("spin"),
                timeout: a.num("timeout", 30.0)?,
            };
            if o.queues == 0 || o.iodepth == 0 || o.bs == 0 {
                return Err("--queues, --iodepth and --bs must be at least 1".into());
            }
            bench::run(&o)
        }
        "info" => {
            let a = Args::parse(rest, &["socket", "queues"], &[])?;
            let d = dev::Device::open(&a.str("socket")?, a.num("queues", 1)?, &[4096])?;
            println!("{:#?}", d.info);
            d.close();
            Ok(true)
        }
        "-h" | "--help" | "help" => {
            println!("{USAGE}");
            Ok(true)
        }
        _ => Err(format!("unknown subcommand {sub:?}")),
    }
}

fn main() -> ExitCode {
    let argv: Vec<String> = std::env::args().skip(1).collect();
    match run(&argv) {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::from(1),
        Err(e) => {
            eprintln!("vhost-blk-client: {e}");
            if e.contains("required") || e.contains("unknown") || e.contains("bad ") {
                eprintln!("{USAGE}");
            }
            ExitCode::from(2)
        }
    }
}
