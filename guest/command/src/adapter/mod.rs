//! Everything that touches WASI. Decisions are delegated to `rangeget_core`.

mod batch;
mod checksum;
mod files;
mod http;
mod job;
mod lease;
mod list;
mod output;
mod report;
mod stream;

use rangeget_core::batch::PathClaims;
use rangeget_core::failure::Reason;
use rangeget_core::Failure;
use rangeget_options::Options;
use rangeget_wasi_http::clock;

/// Runs the command and returns its exit status.
pub fn run() -> i32 {
    let options = match Options::parse_from(std::env::args()) {
        Ok(options) => options,
        Err(err) => {
            // --help and --version go to stdout, usage errors to stderr.
            let _ = err.print();
            return err.exit_code();
        }
    };
    report::set_quiet(options.quiet);
    report::set_verbose(options.verbose);
    lease::set_gone_holders(&options.gone_tokens);
    let ran = start(&options).and_then(|status| save_cookies(&options).map(|()| status));
    match ran {
        Ok(status) => status,
        Err(failure) => {
            eprintln!("{}", failure.error_line());
            i32::from(failure.kind().exit_code())
        }
    }
}

/// `--save-cookies`: the run's cookies, written whole at its end.
fn save_cookies(options: &Options) -> Result<(), Failure> {
    let Some(path) = &options.save_cookies else {
        return Ok(());
    };
    let text = http::cookies()
        .borrow()
        .to_netscape(clock::unix_ms() / 1000);
    output::OutputDir::for_path(path)?.replace_with(text.as_bytes())
}

/// Where the run's bytes go: stdout, a device, or files (one or a batch).
fn start(options: &Options) -> Result<i32, Failure> {
    let usage = |message: String| Failure::from(Reason::Usage(message));
    let (env, read) = (
        |name: &str| std::env::var(name).ok(),
        |path: &str| std::fs::read_to_string(path),
    );
    http::set_netrc(options.netrc_in_component(env, read).map_err(usage)?);
    *http::cookies().borrow_mut() = options.cookie_jar(read).map_err(usage)?;
    if options.metalink_url().is_some() {
        return follow_metalink(options);
    }
    if let Some(path) = &options.metalink {
        let text = list::read_metalink(path)?;
        let (downloads, claims) = options.metalink_downloads(&text).map_err(usage)?;
        return Ok(batch::run(options, downloads.into(), claims));
    }
    if options.input_file.is_some() {
        options.check_before_run().map_err(usage)?;
        let mut claims = PathClaims::default();
        let list = list::ListSource::open(options, &mut claims)?;
        return Ok(batch::run(
            options,
            list::Downloads::Listed(Box::new(list)),
            claims,
        ));
    }
    let (downloads, claims) = options.given_downloads().map_err(usage)?;
    if options.to_stdout() {
        return Ok(stream::run(&downloads[0], stream::Destination::Stdout));
    }
    if !options.is_batch() {
        if let Some(device) = device_at(&downloads[0])? {
            return Ok(stream::run(&downloads[0], device));
        }
    }
    Ok(batch::run(options, downloads.into(), claims))
}

/// `rangeget URL.meta4`: the metalink is downloaded into `-d` as any file
/// (so a rerun has it, and resumes its files), then its files are.
fn follow_metalink(options: &Options) -> Result<i32, Failure> {
    let usage = |message: String| Failure::from(Reason::Usage(message));
    let fetch = options.fetching_metalink().map_err(usage)?;
    let (downloads, claims) = fetch.given_downloads().map_err(usage)?;
    let path = downloads[0].path_from_url();
    let code = batch::run(&fetch, downloads.into(), claims);
    if code != 0 {
        return Ok(code);
    }
    let run = options.following_metalink(path);
    let text = list::read_metalink(run.metalink.as_deref().unwrap_or_default())?;
    let (downloads, claims) = run.metalink_downloads(&text).map_err(usage)?;
    Ok(batch::run(&run, downloads.into(), claims))
}

/// A character device or FIFO that `-o` names (`/dev/null`): the file is
/// streamed into it in order, as with `-o -`, never replacing it.
fn device_at(options: &Options) -> Result<Option<stream::Destination>, Failure> {
    if options.output.is_none() {
        return Ok(None);
    }
    let path = options.path_from_url();
    let Ok(out) = output::OutputDir::for_path(&path) else {
        return Ok(None);
    };
    Ok(out
        .open_device()?
        .map(|(file, stream)| stream::Destination::Device { file, stream, path }))
}
