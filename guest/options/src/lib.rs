//! rangeget's command line, shared by the command component and the native
//! CLI so both accept exactly the same arguments. Parsing lives here, out
//! of the sans-IO core: the core receives resolved settings
//! ([`Options::settings`]), not flags.

use std::collections::VecDeque;

use clap::Parser;

use rangeget_core::batch::{ExistingRules, PathClaims};
use rangeget_core::checksum::parse_sha256;
use rangeget_core::cookies::CookieJar;
use rangeget_core::credentials::NetrcUse;
use rangeget_core::fetch::{FileTarget, Settings, Spec, StallRule};
use rangeget_core::headers::parse_header_line;
use rangeget_core::input_file::{InputEntry, ListReader};
use rangeget_core::metalink::{parse_metalink, HashKind, MetalinkFile};
use rangeget_core::naming::file_name_from_url;
use rangeget_core::netrc::Netrc;
use rangeget_core::request::RequestRules;
use rangeget_core::retry::RetryPolicy;
use rangeget_core::size::parse_size;
use rangeget_core::sources::Mirrors;
use rangeget_core::Failure;

/// The `-i` value that reads the list from standard input (aria2c's and
/// wget's spelling).
pub const STDIN_LIST: &str = "-";

/// The WASI environment variable through which the native CLI hands the
/// component the text of the `.netrc` it read (the component's sandbox
/// does not see the user's home).
pub const NETRC_TEXT_VAR: &str = "RANGEGET_NETRC_TEXT";

/// How messages name the `-i` list `path`.
pub fn list_name(path: &str) -> &str {
    if path == STDIN_LIST {
        "standard input"
    } else {
        path
    }
}

const EXAMPLES: &str = "\
Examples:
  rangeget https://example.com/big.iso -o big.iso
  rangeget https://example.com/big.iso -o big.iso -x 8 --chunk-size 16M
  rangeget https://example.com/big.iso           (saves as ./big.iso)
  rangeget https://example.com/big.iso --checksum sha256=9f86d081884c7d65...
  rangeget -i urls.txt -d downloads/ --json      (one report line per file)
  rangeget -M ubuntu.meta4 -d iso/               (from all its mirrors at once)

Interrupted downloads leave FILE.part and FILE.part.meta next to FILE;
running the same command again resumes where it stopped.

Environment (native CLI): http_proxy, https_proxy, all_proxy and no_proxy
choose proxies as with curl (http://, socks5://, socks5h://); NETRC names
the .netrc; SSL_CERT_FILE or SSL_CERT_DIR replace the system's CA store.

The native CLI also runs the edge proxy (rangeget serve --help) and
writes it for one origin with its settings built in (rangeget plugin --help).";

#[derive(Parser, Debug, Clone, PartialEq, Eq)]
#[command(
    name = "rangeget",
    version,
    about = "Resumable, multi-connection HTTP downloader",
    after_help = EXAMPLES
)]
pub struct Options {
    /// The http:// or https:// URLs to download (several: each into -d).
    #[arg(value_name = "URL", required_unless_present_any = ["input_file", "metalink"])]
    pub urls: Vec<String>,

    /// The URL of one download: the only one given, or one of a batch
    /// (see [`Options::expand`]).
    #[arg(skip)]
    pub url: String,

    /// This download is one of a batch (set by [`Options::expand`]).
    #[arg(skip)]
    pub in_batch: bool,

    /// Download every URL listed in FILE (one per line; indented
    /// `out=NAME`, `dir=DIR`, `header=Name: value` and
    /// `checksum=sha-256=HEX` lines below a URL apply to it); `-` reads the
    /// list from standard input.
    #[arg(short = 'i', long = "input-file", value_name = "FILE", conflicts_with_all = ["urls", "output", "checksum"])]
    pub input_file: Option<String>,

    /// Download the files a Metalink (RFC 5854 `.meta4`, or Metalink 3)
    /// describes, each from all its sources at once where piece hashes or
    /// its hash allow, one at a time otherwise; `-` reads it from standard
    /// input.
    #[arg(short = 'M', long = "metalink", value_name = "FILE",
          conflicts_with_all = ["urls", "input_file", "output", "checksum"])]
    pub metalink: Option<String>,

    /// Save a `.meta4` or `.metalink` URL as a file instead of
    /// downloading the files it describes (aria2c's
    /// `--follow-metalink=false`).
    #[arg(long = "no-follow-metalink")]
    pub no_follow_metalink: bool,

    /// Other sources of this download's file (a list's tab-separated
    /// URLs, a metalink's), after `url`.
    #[arg(skip)]
    pub mirrors: Vec<String>,

    /// The piece hashes a metalink gives this download's file.
    #[arg(skip)]
    pub pieces: Option<std::sync::Arc<rangeget_core::pieces::PieceHashes>>,

    /// The size a metalink gives this download's file.
    #[arg(skip)]
    pub expected_size: Option<u64>,

    /// Files downloaded at once (like aria2c's -j, whose default is 5 too).
    #[arg(short = 'j', long = "jobs", value_name = "N", default_value_t = 5,
          value_parser = clap::value_parser!(u32).range(1..=256))]
    pub jobs: u32,

    /// Requests in flight at once across every file of the run (default
    /// 16, or -x if larger).
    #[arg(long = "max-connections", value_name = "N",
          value_parser = clap::value_parser!(u32).range(1..=1024))]
    pub max_connections: Option<u32>,

    /// Requests in flight at once to one host (default: --max-connections).
    #[arg(long = "max-connections-per-host", value_name = "N",
          value_parser = clap::value_parser!(u32).range(1..=1024))]
    pub max_connections_per_host: Option<u32>,

    /// A file that exists is fetched again only if the remote one differs
    /// in size or modification time (wget's -N); the check is one
    /// conditional request, answered 304 when nothing changed.
    #[arg(short = 'N', long = "timestamping")]
    pub timestamping: bool,

    /// Leave a finished file's modification time alone (by default it is
    /// set to the server's Last-Modified, as wget does).
    #[arg(long = "no-remote-time")]
    pub no_remote_time: bool,

    /// Where to save the file (default: the server's Content-Disposition name,
    /// else the last segment of the URL); `-` streams it to stdout, in order.
    #[arg(short = 'o', long = "output", value_name = "PATH")]
    pub output: Option<String>,

    /// Directory to save into (default: the current one); a relative -o is inside it.
    #[arg(short = 'd', long = "dir", value_name = "DIR")]
    pub dir: Option<String>,

    /// Range requests in flight at once.
    #[arg(short = 'x', long = "connections", value_name = "N", default_value_t = 4,
          value_parser = clap::value_parser!(u32).range(1..=64))]
    pub connections: u32,

    /// Bytes per chunk, the unit that is resumed and retried, e.g. 4M or 1G
    /// (default: chosen from the file size; from an origin 10 ms or more
    /// away, one chunk per connection). Each chunk is fetched as requests
    /// of 2 MiB, more on slow round trips; from a far origin, as one.
    #[arg(long = "chunk-size", value_name = "BYTES", value_parser = parse_chunk_size)]
    pub chunk_size: Option<u64>,

    /// Seconds a chunk may stay below --speed-limit (or silent) before it is retried.
    #[arg(long = "timeout", value_name = "SECS", default_value_t = 60,
          value_parser = clap::value_parser!(u64).range(1..=86_400))]
    pub timeout_secs: u64,

    /// A chunk receiving less than BYTES per second over --timeout is
    /// cancelled and retried (like curl's --speed-limit; 0 = only a silent one).
    #[arg(long = "speed-limit", value_name = "BYTES", default_value = "1K", value_parser = parse_size)]
    pub speed_limit: u64,

    /// Cap on the total download rate in bytes per second, e.g. 10M.
    #[arg(long = "max-speed", value_name = "BYTES", value_parser = parse_size)]
    pub max_speed: Option<u64>,

    /// Retries per chunk (an attempt that delivered data before it broke does not count; one cut for being below --speed-limit does).
    #[arg(long = "retries", value_name = "N", default_value_t = 5)]
    pub retries: u32,

    /// Overwrite PATH if it already exists (otherwise rangeget refuses).
    #[arg(long = "force")]
    pub force: bool,

    /// Never wait for the disk to store the data (curl and aria2c do not
    /// either): no periodic flush, and the finished file is renamed into
    /// place straight away. Saves about a second per GiB on slow disks. A
    /// crash or kill stays safe; a power failure soon after may leave PATH
    /// incomplete.
    #[arg(long = "no-fsync")]
    pub no_fsync: bool,

    /// Seconds allowed to establish a connection.
    #[arg(long = "connect-timeout", value_name = "SECS", default_value_t = 30,
          value_parser = clap::value_parser!(u64).range(1..=3_600))]
    pub connect_timeout_secs: u64,

    /// Verify the finished file before it gets its name, e.g. sha256=9f86d0...
    /// (on mismatch it stays as PATH.part for inspection).
    #[arg(long = "checksum", value_name = "sha256=HEX", value_parser = parse_sha256)]
    pub checksum: Option<String>,

    /// Refuse a file larger than BYTES (e.g. 10G): before the download
    /// when the server states the size, as soon as it is passed otherwise.
    #[arg(long = "max-filesize", value_name = "BYTES", value_parser = parse_size)]
    pub max_filesize: Option<u64>,

    /// Send -H's Authorization, Cookie and Proxy-Authorization headers to
    /// the hosts redirects lead to as well (by default only the URL's own
    /// host receives them, as with curl).
    #[arg(long = "location-trusted")]
    pub location_trusted: bool,

    /// Send the cookies of FILE (Netscape format, as curl -b, wget and
    /// aria2c read it) by their domain, path, Secure flag and expiry.
    /// Cookies that answers set are kept for the run either way.
    #[arg(long = "load-cookies", value_name = "FILE")]
    pub load_cookies: Option<String>,

    /// At the end, write the run's cookies to FILE (Netscape format).
    #[arg(long = "save-cookies", value_name = "FILE")]
    pub save_cookies: Option<String>,

    /// Go through this proxy for every URL, in place of http_proxy,
    /// https_proxy and all_proxy (no_proxy still applies): http://,
    /// socks5:// or socks5h:// (names resolved by the proxy), with
    /// user:password@ if it wants them. The native CLI only.
    #[arg(long = "proxy", value_name = "URL")]
    pub proxy: Option<String>,

    /// Send the credentials of ~/.netrc (or $NETRC) for each request's
    /// host; its entry wins over user:password in the URL (curl's -n).
    #[arg(short = 'n', long = "netrc", conflicts_with = "netrc_optional")]
    pub netrc: bool,

    /// As --netrc, but user:password in the URL wins, and a missing file
    /// is no error.
    #[arg(long = "netrc-optional")]
    pub netrc_optional: bool,

    /// The .netrc file to read instead of ~/.netrc (alone, as --netrc-optional
    /// with a file that must exist; under `wasmtime run`, a path inside a
    /// directory granted with --dir).
    #[arg(long = "netrc-file", value_name = "FILE")]
    pub netrc_file: Option<String>,

    /// Free bytes on the output file system, measured by the native CLI
    /// (WASI cannot tell): a download that cannot fit is refused up front.
    #[arg(long = "free-space", value_name = "BYTES", hide = true)]
    pub free_space: Option<u64>,

    /// The token this run's destination locks carry, chosen by the native
    /// CLI so that it can release them when it is stopped by a signal.
    #[arg(long = "lock-token", value_name = "HEX", hide = true, value_parser = parse_token)]
    pub lock_token: Option<u64>,

    /// The tokens of locks whose holders the native CLI knows to be gone
    /// (their process died, `kill -9` included): such a lock is taken over
    /// at once, without watching it for a lease.
    #[arg(long = "gone-tokens", value_name = "HEX,...", hide = true,
          value_delimiter = ',', value_parser = parse_token)]
    pub gone_tokens: Vec<u64>,

    /// With `-o -`: stdout is not the process's but the device or FIFO the
    /// user named PATH with -o, opened for the component by the native CLI
    /// (its sandbox cannot write into a FIFO). Messages name PATH, and a
    /// `--json` report goes to stderr, for the native CLI to print on its
    /// stdout.
    #[arg(
        long = "stdout-is",
        value_name = "PATH",
        hide = true,
        requires = "output"
    )]
    pub stdout_is: Option<String>,

    /// A batch reports where it stands on stderr, in lines the native CLI
    /// draws its terminal progress from (`rangeget_core::batch_progress`).
    #[arg(long = "progress-events", hide = true)]
    pub progress_events: bool,

    /// Extra request header, e.g. -H 'Authorization: Bearer ...' (repeatable).
    #[arg(short = 'H', long = "header", value_name = "'NAME: VALUE'", value_parser = parse_header_line)]
    pub headers: Vec<(String, String)>,

    /// The User-Agent header to send.
    #[arg(short = 'A', long = "user-agent", value_name = "TEXT")]
    pub user_agent: Option<String>,

    /// Print one JSON object per file on stdout as it ends, instead of the summary line (several files: a summary object last).
    #[arg(long = "json")]
    pub json: bool,

    /// Log every request and response line to stderr.
    #[arg(short = 'v', long = "verbose")]
    pub verbose: bool,

    /// No progress display, warnings or summary; errors are still printed.
    #[arg(short = 'q', long = "quiet")]
    pub quiet: bool,
}

/// Why `Proxy-Authorization` cannot go with the requests: WASI HTTP
/// forbids the header, as the runtime makes the proxy connections.
const PROXY_AUTHORIZATION_ELSEWHERE: &str =
    "-H 'Proxy-Authorization: ...' is for the proxy, which this runtime connects through by \
     itself: give it the proxy's credentials (the native rangeget takes this -H, or \
     https_proxy=http://user:password@proxy:port)";

fn is_proxy_authorization(name: &str) -> bool {
    name.eq_ignore_ascii_case("proxy-authorization")
}

fn parse_token(text: &str) -> Result<u64, String> {
    u64::from_str_radix(text, 16).map_err(|_| format!("'{text}' is not a hexadecimal token"))
}

/// Claims the path `download` writes for entry `at` of the run (`line`
/// of the list `list`, or a URL given on the command line when `None`),
/// refusing it when it meets another entry's: the same file however
/// spelled, or one another's working files. A server's Content-Disposition
/// name is not known yet: the URL's is what is compared. A path a server
/// gave another entry is not the list's doing: that entry fails at its turn.
fn claim_listed(
    claims: &mut PathClaims,
    download: &Options,
    at: usize,
    line: Option<usize>,
    list: &str,
) -> Result<(), String> {
    let path = download.path_from_url();
    if let Some(clash) = claims
        .clash(&path, at)
        .filter(|clash| !clash.holder.by_server)
    {
        let name = |line: Option<usize>, url: &str| match line {
            Some(line) => format!("{list} line {line}"),
            None => format!("'{url}'"),
        };
        return Err(format!(
            "{} and {} {}; give one of them out= (or -o) another name",
            name(clash.holder.line, &clash.holder.url),
            name(line, &download.url),
            clash.describe(&path)
        ));
    }
    claims.claim_listed(&path, at, &download.url, line);
    Ok(())
}

/// A run's downloads as its `-i` list is read, a line at a time (see
/// `rangeget_core::input_file::ListReader`): each entry becomes a download
/// as soon as it is complete, its path checked against those read before.
/// Mistakes name the list and the line.
pub struct ListedDownloads {
    template: Options,
    reader: ListReader,
    list: String,
    /// Downloads made so far: the next one's index in the run.
    made: usize,
    /// Bytes read after the last complete line (see [`ListedDownloads::bytes`]).
    pending: Vec<u8>,
    /// Downloads complete and not yet taken, then the mistake that ended
    /// the list, if one did.
    ready: VecDeque<Options>,
    mistake: Option<String>,
    /// A mistake ended the list: nothing more is read.
    stopped: bool,
}

/// A list line longer than this is a mistake, not a URL: reading stops
/// there instead of holding an endless line in memory.
pub const MAX_LIST_LINE_BYTES: usize = 64 * 1024;

impl ListedDownloads {
    pub fn new(run: &Options) -> ListedDownloads {
        ListedDownloads {
            template: run.template(),
            reader: ListReader::new(),
            list: list_name(run.input_file.as_deref().unwrap_or_default()).to_string(),
            made: 0,
            pending: Vec::new(),
            ready: VecDeque::new(),
            mistake: None,
            stopped: false,
        }
    }

    /// Bytes of the list, as they are read: the downloads their lines
    /// complete wait for [`ListedDownloads::next_ready`]. After a mistake
    /// (a line too long, not UTF-8, an entry's own), nothing more is read.
    pub fn bytes(&mut self, data: &[u8], claims: &mut PathClaims) {
        if self.stopped {
            return;
        }
        self.pending.extend_from_slice(data);
        while let Some(newline) = self.pending.iter().position(|&b| b == b'\n') {
            let line: Vec<u8> = self.pending.drain(..=newline).collect();
            if !self.take_line(&line[..newline], claims) {
                return;
            }
        }
        if self.pending.len() > MAX_LIST_LINE_BYTES {
            let mistake = format!(
                "{}: line {} is longer than {} KiB; a list holds a URL per line",
                self.list,
                self.lines() + 1,
                MAX_LIST_LINE_BYTES / 1024
            );
            self.stop(mistake);
        }
    }

    /// The list's bytes ended: its last line (without a newline), and the
    /// entry it was in.
    pub fn end_of_bytes(&mut self, claims: &mut PathClaims) {
        let rest = std::mem::take(&mut self.pending);
        if self.stopped || (!rest.is_empty() && !self.take_line(&rest, claims)) {
            return;
        }
        match self.end(claims) {
            Ok(last) => self.ready.extend(last),
            Err(mistake) => self.stop(mistake),
        }
    }

    /// The next download complete, in the list's order; then, once, the
    /// mistake that ended the list.
    pub fn next_ready(&mut self) -> Option<Result<Options, String>> {
        match self.ready.pop_front() {
            Some(download) => Some(Ok(download)),
            None => self.mistake.take().map(Err),
        }
    }

    /// One line of bytes; whether the list goes on.
    fn take_line(&mut self, line: &[u8], claims: &mut PathClaims) -> bool {
        let Ok(text) = std::str::from_utf8(line) else {
            let mistake = format!("{}: line {} is not UTF-8 text", self.list, self.lines() + 1);
            self.stop(mistake);
            return false;
        };
        match self.line(text.trim_end_matches('\r'), claims) {
            Ok(download) => {
                self.ready.extend(download);
                true
            }
            Err(mistake) => {
                self.stop(mistake);
                false
            }
        }
    }

    fn stop(&mut self, mistake: String) {
        self.mistake = Some(mistake);
        self.stopped = true;
        self.pending.clear();
    }

    /// The next line of the list (without its newline); the download it
    /// completes, if any.
    pub fn line(&mut self, line: &str, claims: &mut PathClaims) -> Result<Option<Options>, String> {
        let entry = self
            .reader
            .line(line)
            .map_err(|e| format!("{}: {e}", self.list))?;
        entry.map(|entry| self.admit(entry, claims)).transpose()
    }

    /// The list ended: its last download, if one was open.
    pub fn end(&mut self, claims: &mut PathClaims) -> Result<Option<Options>, String> {
        let entry = self
            .reader
            .end()
            .map_err(|e| format!("{}: {e}", self.list))?;
        entry.map(|entry| self.admit(entry, claims)).transpose()
    }

    /// How many downloads the list has given so far.
    pub fn made(&self) -> usize {
        self.made
    }

    /// How messages name the list ("standard input", or its path).
    pub fn list(&self) -> &str {
        &self.list
    }

    /// Lines read so far.
    pub fn lines(&self) -> usize {
        self.reader.lines()
    }

    fn admit(&mut self, entry: InputEntry, claims: &mut PathClaims) -> Result<Options, String> {
        let line = entry.line;
        let download = self.template.for_entry(entry);
        claim_listed(claims, &download, self.made, Some(line), &self.list)?;
        self.made += 1;
        Ok(download)
    }
}

fn join_path(dir: &str, name: &str) -> String {
    if dir.ends_with('/') {
        format!("{dir}{name}")
    } else {
        format!("{dir}/{name}")
    }
}

fn parse_chunk_size(text: &str) -> Result<u64, String> {
    let size = parse_size(text)?;
    if size < 4096 {
        return Err(format!("'{text}' is below the 4K minimum chunk size"));
    }
    Ok(size)
}

impl Options {
    /// Parses `args` (program name first). On error the caller prints
    /// `err.render()` and exits with `err.exit_code()` (2 for usage errors,
    /// 0 for --help and --version).
    pub fn parse_from<I, T>(args: I) -> Result<Options, clap::Error>
    where
        I: IntoIterator<Item = T>,
        T: Into<std::ffi::OsString> + Clone,
    {
        let mut options = <Options as Parser>::try_parse_from(args)?;
        let usage = |message: String| {
            clap::Error::raw(clap::error::ErrorKind::ValueValidation, message + "\n")
                .with_cmd(&<Options as clap::CommandFactory>::command())
        };
        if let Some(bad) = options
            .urls
            .iter()
            .find(|u| !(u.starts_with("http://") || u.starts_with("https://")))
        {
            return Err(usage(format!("'{bad}' is not an http:// or https:// URL")));
        }
        if options.urls.len() > 1 && options.output.is_some() {
            return Err(usage(
                "-o names one file; with several URLs, choose the directory with -d".into(),
            ));
        }
        if options.urls.len() > 1 && options.checksum.is_some() {
            return Err(usage(
                "--checksum describes one file; with several, give checksum= in an -i list".into(),
            ));
        }
        if let [only] = options.urls.as_slice() {
            options.url = only.clone();
        }
        Ok(options)
    }

    /// The inverse of parsing, so the host can forward options it rewrote.
    pub fn to_args(&self) -> Vec<String> {
        let mut args = vec!["rangeget".to_string()];
        match (&self.input_file, &self.metalink) {
            (Some(file), _) => args.extend(["--input-file".into(), file.clone()]),
            (None, Some(file)) => args.extend(["--metalink".into(), file.clone()]),
            (None, None) => args.extend(self.urls.iter().cloned()),
        }
        args.extend(["--jobs".into(), self.jobs.to_string()]);
        for (flag, value) in [
            ("--max-connections", self.max_connections),
            ("--max-connections-per-host", self.max_connections_per_host),
        ] {
            if let Some(value) = value {
                args.extend([flag.into(), value.to_string()]);
            }
        }
        if let Some(output) = &self.output {
            args.extend(["--output".into(), output.clone()]);
        }
        if let Some(dir) = &self.dir {
            args.extend(["--dir".into(), dir.clone()]);
        }
        args.extend(["--connections".into(), self.connections.to_string()]);
        if let Some(chunk) = self.chunk_size {
            args.extend(["--chunk-size".into(), chunk.to_string()]);
        }
        args.extend(["--timeout".into(), self.timeout_secs.to_string()]);
        args.extend(["--retries".into(), self.retries.to_string()]);
        if self.force {
            args.push("--force".into());
        }
        if self.no_follow_metalink {
            args.push("--no-follow-metalink".into());
        }
        args.extend([
            "--connect-timeout".into(),
            self.connect_timeout_secs.to_string(),
        ]);
        args.extend(["--speed-limit".into(), self.speed_limit.to_string()]);
        if let Some(rate) = self.max_speed {
            args.extend(["--max-speed".into(), rate.to_string()]);
        }
        if let Some(sha256) = &self.checksum {
            args.extend(["--checksum".into(), format!("sha256={sha256}")]);
        }
        for (flag, value) in [
            ("--max-filesize", self.max_filesize),
            ("--free-space", self.free_space),
        ] {
            if let Some(value) = value {
                args.extend([flag.into(), value.to_string()]);
            }
        }
        for (name, value) in &self.headers {
            args.extend(["--header".into(), format!("{name}: {value}")]);
        }
        if let Some(token) = self.lock_token {
            args.extend(["--lock-token".into(), format!("{token:016x}")]);
        }
        if !self.gone_tokens.is_empty() {
            let tokens: Vec<String> = self
                .gone_tokens
                .iter()
                .map(|t| format!("{t:016x}"))
                .collect();
            args.extend(["--gone-tokens".into(), tokens.join(",")]);
        }
        if let Some(agent) = &self.user_agent {
            args.extend(["--user-agent".into(), agent.clone()]);
        }
        if let Some(file) = &self.netrc_file {
            args.extend(["--netrc-file".into(), file.clone()]);
        }
        if let Some(proxy) = &self.proxy {
            args.extend(["--proxy".into(), proxy.clone()]);
        }
        for (flag, file) in [
            ("--load-cookies", &self.load_cookies),
            ("--save-cookies", &self.save_cookies),
        ] {
            if let Some(file) = file {
                args.extend([flag.into(), file.clone()]);
            }
        }
        if let Some(path) = &self.stdout_is {
            args.extend(["--stdout-is".into(), path.clone()]);
        }
        for (flag, set) in [
            ("--no-fsync", self.no_fsync),
            ("--location-trusted", self.location_trusted),
            ("--netrc", self.netrc),
            ("--netrc-optional", self.netrc_optional),
            ("--timestamping", self.timestamping),
            ("--no-remote-time", self.no_remote_time),
            ("--progress-events", self.progress_events),
            ("--json", self.json),
            ("--quiet", self.quiet),
            ("--verbose", self.verbose),
        ] {
            if set {
                args.push(flag.into());
            }
        }
        args
    }

    /// Where the file goes before any server names it: its name from the
    /// URL (see [`Options::output_path`]).
    pub fn path_from_url(&self) -> String {
        self.output_path(&file_name_from_url(&self.url))
    }

    /// The path to write: `-o` (inside `-d` when relative), else
    /// `server_name` (the name chosen from the server's answer) inside `-d`.
    pub fn output_path(&self, server_name: &str) -> String {
        let dir = self.dir.as_deref().filter(|d| !d.is_empty());
        match (&self.output, dir) {
            (Some(output), Some(dir)) if !output.starts_with('/') => join_path(dir, output),
            (Some(output), _) => output.clone(),
            (None, Some(dir)) => join_path(dir, server_name),
            (None, None) => server_name.to_string(),
        }
    }

    pub fn retry_policy(&self) -> RetryPolicy {
        RetryPolicy {
            max_retries: self.retries,
            ..RetryPolicy::default()
        }
    }

    /// What the engines need of these options: the rules for every
    /// request, and how a transfer behaves (`seed` jitters the retries).
    pub fn settings(&self, seed: u64) -> Settings {
        Settings {
            connections: self.connections as usize,
            rules: self.request_rules(),
            stall: StallRule {
                timeout_ms: self.timeout_ms(),
                min_bytes: self.min_bytes_per_window(),
            },
            max_speed: self.max_speed,
            max_filesize: self.max_filesize,
            durable: !self.no_fsync,
            seed,
        }
    }

    /// What a fetch of this entry needs (`seed` jitters the retries).
    pub fn fetch_spec(&self, seed: u64) -> Spec {
        Spec {
            url: self.url.clone(),
            settings: self.settings(seed),
            chunk_size: self.chunk_size,
            free_space: self.free_space,
            rate_limit: None,
            mirrors: Mirrors {
                urls: self.mirrors.clone(),
                size: self.expected_size,
                pieces: self.pieces.clone(),
                per_host: self.max_connections_per_host.map(|n| n as usize),
            },
        }
    }

    /// The file this entry's fetch writes at `path`; `given_up`: why its
    /// host was given up on earlier in the run, if it was.
    pub fn file_target(&self, path: String, given_up: Option<Failure>) -> FileTarget {
        FileTarget {
            path,
            rules: ExistingRules {
                batch: self.is_batch(),
                force: self.force,
                timestamping: self.timestamping,
            },
            checksum: self.checksum.clone(),
            report_sha256: self.json,
            remote_time: !self.no_remote_time,
            given_up,
        }
    }

    /// The `.netrc` text this run reads, if it reads one: `--netrc-file`,
    /// else `$NETRC`, else `$HOME/.netrc` (`env` looks a variable up,
    /// `read` reads a file). A missing file is an error unless only
    /// `--netrc-optional` asked for it.
    pub fn netrc_text(
        &self,
        env: impl Fn(&str) -> Option<String>,
        read: impl Fn(&str) -> std::io::Result<String>,
    ) -> Result<Option<String>, String> {
        if !self.wants_netrc() {
            return Ok(None);
        }
        let path = self
            .netrc_file
            .clone()
            .or_else(|| env("NETRC"))
            .or_else(|| env("HOME").map(|home| format!("{}/.netrc", home.trim_end_matches('/'))))
            .ok_or("--netrc: neither NETRC nor HOME is set; name the file with --netrc-file")?;
        let required = self.netrc || self.netrc_file.is_some();
        match read(&path) {
            Ok(text) => Ok(Some(text)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound && !required => Ok(None),
            Err(e) => Err(format!(
                "cannot read the .netrc file {path}: {e} (under wasmtime run, grant its \
                 directory read-only with --dir and name it with --netrc-file)"
            )),
        }
    }

    /// The `.netrc` as the component uses it: the text the native CLI
    /// handed over (see [`NETRC_TEXT_VAR`]), else the file it names, read
    /// through the runtime's preopens.
    pub fn netrc_in_component(
        &self,
        env: impl Fn(&str) -> Option<String>,
        read: impl Fn(&str) -> std::io::Result<String>,
    ) -> Result<Option<NetrcUse>, String> {
        let text = match env(NETRC_TEXT_VAR) {
            Some(text) => Some(text),
            None => self.netrc_text(env, read)?,
        };
        self.netrc_use(text)
    }

    /// The cookies a run starts with: `--load-cookies`' file (read with
    /// `read`), or none.
    pub fn cookie_jar(
        &self,
        read: impl Fn(&str) -> std::io::Result<String>,
    ) -> Result<CookieJar, String> {
        let Some(path) = &self.load_cookies else {
            return Ok(CookieJar::default());
        };
        let text = read(path).map_err(|e| format!("cannot read the cookie file {path}: {e}"))?;
        CookieJar::parse_netscape(&text).map_err(|e| format!("the cookie file {path}: {e}"))
    }

    /// Whether a `.netrc` is asked for (`--netrc`, `--netrc-optional`,
    /// `--netrc-file`).
    pub fn wants_netrc(&self) -> bool {
        self.netrc || self.netrc_optional || self.netrc_file.is_some()
    }

    /// The credentials of `text` (see [`Options::netrc_text`]) as this run
    /// uses them: with `--netrc` they win over the URL's user info.
    pub fn netrc_use(&self, text: Option<String>) -> Result<Option<NetrcUse>, String> {
        let Some(text) = text else {
            return Ok(None);
        };
        let netrc = Netrc::parse(&text).map_err(|e| format!("the .netrc file: {e}"))?;
        Ok(Some(NetrcUse {
            netrc,
            over_url: self.netrc,
        }))
    }

    pub fn request_rules(&self) -> RequestRules {
        RequestRules {
            retry: self.retry_policy(),
            ..RequestRules::default()
        }
    }

    pub fn timeout_ms(&self) -> u64 {
        self.timeout_secs * 1000
    }

    /// One set of options per file to download: one per URL given, or one
    /// per entry of the input file (whose whole text the caller read; see
    /// [`ListedDownloads`] to read a list as it comes), each with its own
    /// URL, `out=` as `-o`, `dir=` inside `-d`, its `header=`s after
    /// `-H`'s and its `checksum=`. Two that would write the same path, or
    /// one another's working files, are refused, naming them, before
    /// anything is downloaded.
    pub fn expand(&self, input_text: Option<&str>) -> Result<Vec<Options>, String> {
        let Some(text) = input_text else {
            return self.given_downloads().map(|(downloads, _)| downloads);
        };
        self.check_before_run()?;
        let mut claims = PathClaims::default();
        let mut listed = ListedDownloads::new(self);
        let mut downloads = Vec::new();
        for line in text.lines() {
            downloads.extend(listed.line(line, &mut claims)?);
        }
        downloads.extend(listed.end(&mut claims)?);
        Ok(downloads)
    }

    /// One download per URL of the command line, and the paths they claim
    /// (checked as [`Options::expand`] says), for the run to go on with.
    pub fn given_downloads(&self) -> Result<(Vec<Options>, PathClaims), String> {
        self.check_before_run()?;
        let mut claims = PathClaims::default();
        let template = self.template();
        let mut downloads = Vec::with_capacity(self.urls.len());
        for (at, url) in self.urls.iter().enumerate() {
            let download = template.for_url(url);
            claim_listed(&mut claims, &download, at, None, "")?;
            downloads.push(download);
        }
        Ok((downloads, claims))
    }

    /// Takes `-H 'Proxy-Authorization: …'` out of the headers: it is for
    /// the proxy, whose connection the native CLI makes.
    pub fn take_proxy_authorization(&mut self) -> Option<String> {
        let (_, value) = self
            .headers
            .iter()
            .rev()
            .find(|(name, _)| is_proxy_authorization(name))?
            .clone();
        self.headers
            .retain(|(name, _)| !is_proxy_authorization(name));
        Some(value)
    }

    /// What the component refuses before it starts: a `Proxy-Authorization`
    /// header (the proxy's, see [`Options::take_proxy_authorization`]), and
    /// `--json` with `-o -`, whose stdout the file fills (unless the native
    /// CLI gave it a device of its own to fill).
    pub fn check_before_run(&self) -> Result<(), String> {
        if self
            .headers
            .iter()
            .any(|(name, _)| is_proxy_authorization(name))
        {
            return Err(PROXY_AUTHORIZATION_ELSEWHERE.into());
        }
        if self.proxy.is_some() {
            // The native CLI takes it before the component starts.
            return Err(
                "--proxy is the native rangeget's: under this runtime the runtime makes \
                        the connections and uses no proxy"
                    .into(),
            );
        }
        if self.to_stdout() && self.json && self.stdout_is.is_none() {
            return Err(
                "--json reports on stdout, which -o - fills with the file; drop --json, \
                        or save the file with -o PATH"
                    .into(),
            );
        }
        Ok(())
    }

    /// What each download of this run starts from: its options without the
    /// run's own URLs (cloned into each of thousands of downloads, they made
    /// a long command line quadratic).
    fn template(&self) -> Options {
        Options {
            urls: Vec::new(),
            input_file: None,
            metalink: None,
            in_batch: self.is_batch(),
            ..self.clone()
        }
    }

    /// The download of `url`, from the run's template.
    fn for_url(&self, url: &str) -> Options {
        Options {
            url: url.to_string(),
            urls: vec![url.to_string()],
            ..self.clone()
        }
    }

    /// The download of a list's `entry`, from the run's template.
    fn for_entry(&self, entry: InputEntry) -> Options {
        let dir = match (&self.dir, entry.dir) {
            (Some(base), Some(sub)) if !sub.starts_with('/') => Some(join_path(base, &sub)),
            (base, sub) => sub.or_else(|| base.clone()),
        };
        let mut headers = self.headers.clone();
        headers.extend(entry.headers);
        Options {
            output: entry.out,
            dir,
            headers,
            checksum: entry.checksum,
            mirrors: entry.mirrors,
            ..self.for_url(&entry.url)
        }
    }

    /// The URL of a metalink this run downloads and then follows (a
    /// `.meta4` or `.metalink` URL given alone, as aria2c does), if it is
    /// one.
    pub fn metalink_url(&self) -> Option<&str> {
        if self.no_follow_metalink || self.input_file.is_some() || self.metalink.is_some() {
            return None;
        }
        let [url] = self.urls.as_slice() else {
            return None;
        };
        let path = url.split(['?', '#']).next()?.to_ascii_lowercase();
        (path.ends_with(".meta4") || path.ends_with(".metalink")).then_some(url)
    }

    /// The download of the metalink itself: saved in `-d` under its URL's
    /// name, quietly (the run reports the files it describes); one left by
    /// an earlier run is used as it is (`-N` fetches it again if it
    /// changed, `--force` always).
    pub fn fetching_metalink(&self) -> Result<Options, String> {
        if self.output.is_some() {
            return Err(
                "a metalink names its files: choose their directory with -d (or save \
                        the metalink itself with --no-follow-metalink -o PATH)"
                    .into(),
            );
        }
        Ok(Options {
            output: Some(file_name_from_url(&self.url)),
            in_batch: true,
            quiet: true,
            json: false,
            ..self.clone()
        })
    }

    /// The run of the files the metalink saved at `path` describes.
    pub fn following_metalink(&self, path: String) -> Options {
        Options {
            metalink: Some(path),
            urls: Vec::new(),
            url: String::new(),
            ..self.clone()
        }
    }

    /// The download of a metalink's `file`: its
    /// name inside `-d`, its sources, size, hashes.
    fn for_metalink_file(&self, file: MetalinkFile) -> Options {
        let mut urls = file.urls.into_iter();
        let url = urls.next().expect("a metalink file has a URL");
        // `--checksum` holds a SHA-256; another whole-file hash is not
        // compared (piece hashes of any kind are).
        let checksum = file
            .hash
            .filter(|h| h.kind == HashKind::Sha256)
            .map(|h| h.hex());
        Options {
            output: Some(file.name),
            checksum,
            mirrors: urls.collect(),
            pieces: file.pieces.map(std::sync::Arc::new),
            expected_size: file.size,
            ..self.for_url(&url)
        }
    }

    /// One download per file of the metalink whose text is `text`, named
    /// `list` in messages, and the paths they claim (two files on one
    /// path are refused before anything is fetched).
    pub fn metalink_downloads(&self, text: &str) -> Result<(Vec<Options>, PathClaims), String> {
        self.check_before_run()?;
        let list = list_name(self.metalink.as_deref().unwrap_or_default()).to_string();
        let metalink = parse_metalink(text).map_err(|e| format!("{list}: {e}"))?;
        let template = self.template();
        let mut claims = PathClaims::default();
        let mut downloads = Vec::with_capacity(metalink.files.len());
        for (at, file) in metalink.files.into_iter().enumerate() {
            let download = template.for_metalink_file(file);
            claim_listed(&mut claims, &download, at, None, &list)?;
            downloads.push(download);
        }
        Ok((downloads, claims))
    }

    /// `-o -`: the file goes to stdout, in order, and nowhere on disk.
    pub fn to_stdout(&self) -> bool {
        self.output.as_deref() == Some("-")
    }

    /// Whether this run downloads several files (several URLs or a list).
    pub fn is_batch(&self) -> bool {
        self.in_batch || self.input_file.is_some() || self.metalink.is_some() || self.urls.len() > 1
    }

    /// The budget of requests in flight for the whole run: in all, and to
    /// one host.
    pub fn connection_budget(&self) -> (usize, usize) {
        let total = self.max_connections.unwrap_or(16).max(self.connections) as usize;
        let per_host = self
            .max_connections_per_host
            .map_or(total, |n| n as usize)
            .min(total);
        (total, per_host)
    }

    /// Headers for every request: the User-Agent, then the user's -H ones
    /// (a -H User-Agent wins over -A and the default).
    pub fn request_headers(&self) -> Vec<(String, String)> {
        let mut headers = Vec::with_capacity(self.headers.len() + 1);
        if !self
            .headers
            .iter()
            .any(|(n, _)| n.eq_ignore_ascii_case("user-agent"))
        {
            let agent = self
                .user_agent
                .clone()
                .unwrap_or_else(|| concat!("rangeget/", env!("CARGO_PKG_VERSION")).to_string());
            headers.push(("User-Agent".to_string(), agent));
        }
        headers.extend(self.headers.iter().cloned());
        headers
    }

    /// Bytes a chunk must receive per --timeout window to count as moving.
    pub fn min_bytes_per_window(&self) -> u64 {
        self.speed_limit.saturating_mul(self.timeout_secs).max(1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_match_the_documented_contract() {
        let o = Options::parse_from(["rangeget", "http://h/f", "-o", "out"]).unwrap();
        assert_eq!(o.connections, 4);
        assert_eq!(o.timeout_secs, 60);
        assert_eq!(o.retries, 5);
        assert_eq!(o.chunk_size, None);
        assert_eq!(o.output.as_deref(), Some("out"));
    }

    #[test]
    fn accepts_suffixed_sizes() {
        let o = Options::parse_from([
            "rangeget",
            "https://h/f",
            "--chunk-size",
            "4M",
            "--max-speed",
            "1G",
        ])
        .unwrap();
        assert_eq!((o.chunk_size, o.max_speed), (Some(4 << 20), Some(1 << 30)));
    }

    /// The host forwards options to the component through `to_args`. The
    /// literal names every field (no `..Default`), so a new option cannot be
    /// added without this test asking whether it survives the trip.
    #[test]
    fn every_option_survives_the_trip_to_the_component() {
        let all_set = Options {
            url: "https://h/f".into(),
            urls: vec!["https://h/f".into()],
            in_batch: false,
            input_file: None,
            metalink: None,
            no_follow_metalink: true,
            mirrors: Vec::new(),
            pieces: None,
            expected_size: None,
            jobs: 7,
            max_connections: Some(40),
            max_connections_per_host: Some(12),
            timestamping: true,
            no_remote_time: true,
            output: Some("out.bin".into()),
            dir: Some("/tmp".into()),
            connections: 8,
            chunk_size: Some(4 << 20),
            timeout_secs: 7,
            speed_limit: 2048,
            max_speed: Some(3 << 20),
            retries: 2,
            force: true,
            no_fsync: true,
            connect_timeout_secs: 9,
            checksum: Some(
                "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08".into(),
            ),
            max_filesize: Some(10 << 30),
            location_trusted: true,
            proxy: Some("socks5h://p:1080".into()),
            load_cookies: Some("in.txt".into()),
            save_cookies: Some("out.txt".into()),
            netrc: true,
            netrc_optional: false,
            netrc_file: Some("/cfg/netrc".into()),
            free_space: Some(123_456),
            lock_token: Some(0xfeed_beef),
            stdout_is: Some("/dev/null".into()),
            gone_tokens: vec![0xdead, 0xbeef],
            progress_events: true,
            headers: vec![
                ("Authorization".into(), "Bearer x".into()),
                ("X-A".into(), "b".into()),
            ],
            user_agent: Some("agent/1".into()),
            json: true,
            quiet: true,
            verbose: true,
        };
        assert_eq!(Options::parse_from(all_set.to_args()).unwrap(), all_set);
        let metalink = Options::parse_from(["rangeget", "-M", "f.meta4"]).unwrap();
        assert_eq!(Options::parse_from(metalink.to_args()).unwrap(), metalink);
    }

    #[test]
    fn the_netrc_is_found_as_curl_finds_it_and_a_missing_one_is_an_error_when_asked_for() {
        let parse = |args: &[&str]| Options::parse_from(args.iter().copied()).unwrap();
        let env = |name: &str| (name == "HOME").then(|| "/home/u/".to_string());
        let missing = |_: &str| Err(std::io::Error::from(std::io::ErrorKind::NotFound));
        let none = parse(&["rangeget", "http://h/a"]);
        assert_eq!(none.netrc_text(env, missing), Ok(None));
        let n = parse(&["rangeget", "http://h/a", "-n"]);
        let read = |path: &str| Ok(format!("machine h login {path}"));
        assert_eq!(
            n.netrc_text(env, read).unwrap().unwrap(),
            "machine h login /home/u/.netrc"
        );
        assert!(n
            .netrc_text(env, missing)
            .unwrap_err()
            .contains("/home/u/.netrc"));
        let optional = parse(&["rangeget", "http://h/a", "--netrc-optional"]);
        assert_eq!(optional.netrc_text(env, missing), Ok(None));
        let file = parse(&[
            "rangeget",
            "http://h/a",
            "--netrc-optional",
            "--netrc-file",
            "/c/n",
        ]);
        assert!(file.netrc_text(env, missing).unwrap_err().contains("/c/n"));
        let used = n
            .netrc_use(Some("machine h login a".into()))
            .unwrap()
            .unwrap();
        assert!(used.over_url);
        assert!(n
            .netrc_use(Some("login".into()))
            .unwrap_err()
            .contains("line 1"));
    }

    #[test]
    fn stdout_takes_one_url_and_no_json_report() {
        let parse = |args: &[&str]| Options::parse_from(args.iter().copied()).unwrap();
        let one = parse(&["rangeget", "http://h/a", "-o", "-"]);
        assert!(one.to_stdout());
        assert_eq!(one.expand(None).unwrap().len(), 1);
        let two = Options::parse_from(["rangeget", "http://h/a", "http://h/b", "-o", "-"]);
        assert!(two.is_err(), "-o names one file");
        let json = parse(&["rangeget", "http://h/a", "-o", "-", "--json"]);
        assert!(json.expand(None).unwrap_err().contains("--json"));
        // stdout is a device the native CLI opened: the report has room.
        let device = parse(&[
            "rangeget",
            "http://h/a",
            "-o",
            "-",
            "--stdout-is",
            "/dev/null",
            "--json",
        ]);
        assert_eq!(device.expand(None).unwrap().len(), 1);
    }

    /// Every download of `chunks` of list bytes, then the mistake, if any.
    fn listed(chunks: &[&[u8]]) -> (Vec<String>, Option<String>) {
        let run = Options::parse_from(["rangeget", "-i", "-", "-d", "/dl"]).unwrap();
        let mut listed = ListedDownloads::new(&run);
        let mut claims = PathClaims::default();
        let (mut urls, mut mistake) = (Vec::new(), None);
        let mut take = |listed: &mut ListedDownloads| {
            while let Some(next) = listed.next_ready() {
                match next {
                    Ok(download) => urls.push(download.url),
                    Err(error) => mistake = Some(error),
                }
            }
        };
        for chunk in chunks {
            listed.bytes(chunk, &mut claims);
            take(&mut listed);
        }
        listed.end_of_bytes(&mut claims);
        take(&mut listed);
        (urls, mistake)
    }

    #[test]
    fn list_bytes_make_downloads_whatever_the_reads_cut() {
        let (urls, mistake) = listed(&[b"http://h/a\r\nhttp://h", b"/b\n  out=c\nhttp://h/d"]);
        assert_eq!(urls, ["http://h/a", "http://h/b", "http://h/d"]);
        assert_eq!(mistake, None);
        // The entries complete before a mistake are taken; nothing after
        // it, not even the entry it is in.
        let (urls, mistake) = listed(&[b"http://h/a\nhttp://h/b\n\xff\nhttp://h/c\n"]);
        assert_eq!(urls, ["http://h/a"]);
        assert!(mistake.unwrap().contains("line 3 is not UTF-8"));
        let long = vec![b'x'; MAX_LIST_LINE_BYTES + 1];
        let (urls, mistake) = listed(&[b"http://h/a\nhttp://h/b\n", &long, &long]);
        assert_eq!(urls, ["http://h/a"]);
        assert!(mistake.unwrap().contains("line 3 is longer than 64 KiB"));
    }

    #[test]
    fn a_list_on_standard_input_is_named_so_in_its_errors() {
        let o = Options::parse_from(["rangeget", "-i", "-", "-d", "/dl"]).unwrap();
        assert!(o.is_batch());
        let error = o.expand(Some("http://h/a\nhttp://h/x/a\n")).unwrap_err();
        assert!(
            error.contains("standard input line 1 and standard input line 2"),
            "{error}"
        );
        let error = o.expand(Some("http://h/a\n  speed=9\n")).unwrap_err();
        assert!(error.starts_with("standard input: line 2"), "{error}");
    }

    #[test]
    fn an_input_file_expands_into_one_download_per_entry() {
        let o =
            Options::parse_from(["rangeget", "-i", "list.txt", "-d", "/dl", "-x", "2"]).unwrap();
        assert_eq!(Options::parse_from(o.to_args()).unwrap(), o);
        let files = o
            .expand(Some("http://h/a\n  out=x.bin\nhttp://h/b\n  dir=sub\n"))
            .unwrap();
        assert_eq!(files.len(), 2);
        assert_eq!(
            (files[0].url.as_str(), files[0].output_path("srv")),
            ("http://h/a", "/dl/x.bin".to_string())
        );
        assert_eq!(files[1].output_path("b"), "/dl/sub/b");
        assert!(files
            .iter()
            .all(|f| f.connections == 2 && f.input_file.is_none()));
        assert!(Options::parse_from(["rangeget", "http://h/a", "-i", "l"]).is_err());
        assert!(Options::parse_from(["rangeget", "-i", "l", "-o", "x"]).is_err());
        // Entries' own headers and checksums, after -H's.
        let o = Options::parse_from(["rangeget", "-i", "l", "-H", "X-A: 1"]).unwrap();
        let sum = "cd".repeat(32);
        let files = o
            .expand(Some(&format!(
                "http://h/a\n  header=X-B: 2\n  checksum=sha-256={sum}\nhttp://h/b\n"
            )))
            .unwrap();
        assert_eq!(files[0].headers.len(), 2);
        assert_eq!(files[0].checksum.as_deref(), Some(sum.as_str()));
        assert_eq!(
            (files[1].headers.len(), files[1].checksum.clone()),
            (1, None)
        );
        // One digest cannot describe every file of a list.
        assert!(Options::parse_from([
            "rangeget",
            "-i",
            "l",
            "--checksum",
            &format!("sha256={}", "0".repeat(64))
        ])
        .is_err());
    }

    #[test]
    fn several_urls_make_a_batch_and_paths_must_differ() {
        let o = Options::parse_from(["rangeget", "http://h/a", "http://h/b", "-d", "d"]).unwrap();
        assert!(o.is_batch() && o.url.is_empty());
        let files = o.expand(None).unwrap();
        assert_eq!(files[1].url, "http://h/b");
        assert_eq!(files[1].output_path("b"), "d/b");
        assert_eq!(Options::parse_from(o.to_args()).unwrap(), o);
        let single = Options::parse_from(["rangeget", "http://h/a"]).unwrap();
        assert!(!single.is_batch() && single.url == "http://h/a");
        // The same name from two URLs.
        let same = Options::parse_from(["rangeget", "http://h/x/a", "http://g/y/a"]).unwrap();
        let error = same.expand(None).unwrap_err();
        assert!(
            error.contains("'http://h/x/a' and 'http://g/y/a' would both write a"),
            "{error}"
        );
        let list = Options::parse_from(["rangeget", "-i", "l.txt"]).unwrap();
        let error = list
            .expand(Some("http://h/a\nhttp://h/b\n  out=c\nhttp://h/c\n"))
            .unwrap_err();
        assert!(error.contains("l.txt line 2 and l.txt line 4"), "{error}");
        // One path spelled three ways is one path.
        let error = list
            .expand(Some(
                "http://h/1\n  out=sub//same.bin\nhttp://h/2\n  dir=sub\n  out=same.bin\n",
            ))
            .unwrap_err();
        assert!(
            error.contains("line 1 and l.txt line 3 would both write"),
            "{error}"
        );
        let error = list
            .expand(Some(
                "http://h/1\n  out=sub/./same.bin\nhttp://h/2\n  out=sub/same.bin\n",
            ))
            .unwrap_err();
        assert!(error.contains("would both write"), "{error}");
        // An entry named like another's working files, listed either way round.
        for (first, second) in [("x", "x.part"), ("x.part.lock", "x"), ("x", "x.part.meta")] {
            let text = format!("http://h/1\n  out={first}\nhttp://h/2\n  out={second}\n");
            let error = list.expand(Some(&text)).unwrap_err();
            assert!(
                error.contains("line 1 and l.txt line 3 clash")
                    && error.contains("is where the download of x keeps its progress"),
                "{error}"
            );
        }
        for bad in [
            vec!["rangeget", "http://h/a", "http://h/b", "-o", "x"],
            vec!["rangeget", "http://h/a", "ftp://h/b"],
        ] {
            assert!(Options::parse_from(&bad).is_err(), "{bad:?}");
        }
        let (total, per_host) = Options::parse_from(["rangeget", "http://h/a", "-x", "32"])
            .unwrap()
            .connection_budget();
        assert_eq!((total, per_host), (32, 32));
    }

    #[test]
    fn user_agent_defaults_and_can_be_replaced() {
        let parse = |args: &[&str]| {
            Options::parse_from([&["rangeget", "http://h/f"], args].concat()).unwrap()
        };
        assert!(parse(&[]).request_headers()[0].1.starts_with("rangeget/"));
        assert_eq!(
            parse(&["-A", "me"]).request_headers(),
            [("User-Agent".to_string(), "me".to_string())]
        );
        let headers =
            parse(&["-A", "me", "-H", "user-agent: them", "-H", "X: y"]).request_headers();
        assert_eq!(
            headers,
            [
                ("user-agent".to_string(), "them".to_string()),
                ("X".to_string(), "y".to_string())
            ]
        );
    }

    #[test]
    fn output_path_combines_dir_and_names() {
        let parse = |args: &[&str]| {
            Options::parse_from([&["rangeget", "http://h/f"], args].concat()).unwrap()
        };
        assert_eq!(parse(&[]).output_path("srv.bin"), "srv.bin");
        assert_eq!(parse(&["-d", "/dl"]).output_path("srv.bin"), "/dl/srv.bin");
        assert_eq!(
            parse(&["-d", "/dl", "-o", "x"]).output_path("srv.bin"),
            "/dl/x"
        );
        assert_eq!(
            parse(&["-d", "/dl", "-o", "/abs/x"]).output_path("srv.bin"),
            "/abs/x"
        );
    }

    #[test]
    fn rejects_bad_arguments_as_usage_errors() {
        for args in [
            vec!["rangeget"],
            vec!["rangeget", "ftp://h/f"],
            vec!["rangeget", "http://h/f", "-x", "0"],
            vec!["rangeget", "http://h/f", "--chunk-size", "12Q"],
            vec!["rangeget", "http://h/f", "--bogus"],
            vec!["rangeget", "http://h/f", "--checksum", "md5=abc"],
            vec!["rangeget", "http://h/f", "-H", "no colon"],
            vec!["rangeget", "http://h/f", "-H", "Range: bytes=0-1"],
            vec!["rangeget", "http://h/f", "-H", "Bad Name: x"],
            vec!["rangeget", "http://h/f", "--checksum", "sha256=abc"],
        ] {
            let err = Options::parse_from(&args).unwrap_err();
            assert_eq!(err.exit_code(), 2, "{args:?}");
        }
    }

    #[test]
    fn proxy_authorization_is_the_proxys_not_the_servers() {
        let args = [
            "rangeget",
            "http://h/f",
            "-H",
            "Proxy-Authorization: Basic eA==",
            "-H",
            "X: y",
        ];
        let mut native = Options::parse_from(args).unwrap();
        // Refused where the runtime makes the proxy connections...
        assert!(native.expand(None).unwrap_err().contains("for the proxy"));
        // ...taken by the native CLI for its own.
        assert_eq!(
            native.take_proxy_authorization().as_deref(),
            Some("Basic eA==")
        );
        assert_eq!(native.headers, [("X".to_string(), "y".to_string())]);
        assert_eq!(native.expand(None).unwrap().len(), 1);
    }
}
