//! The downloads of a run: the URLs of the command line, or an `-i` list
//! read as it comes, a line at a time, so that a list of any length (or
//! one that never ends, on standard input) costs memory for the entries
//! under way only, and the first files start before the last lines are
//! read. A list file is read twice: once to refuse a mistake or a clash
//! anywhere in it before anything is fetched, then as the run takes its
//! entries. Standard input can be read once only: a mistake there stops
//! the run where it is read.

use std::collections::VecDeque;
use std::io::Read;

use rangeget_core::batch::PathClaims;
use rangeget_core::failure::{IoError, Reason};
use rangeget_core::Failure;
use rangeget_options::{ListedDownloads, Options, STDIN_LIST};
use wasip2::cli::stdin::get_stdin;
use wasip2::io::poll::Pollable;
use wasip2::io::streams::{InputStream, StreamError};

/// A list line longer than this is a mistake, not a URL: reading stops
/// there instead of holding an endless line in memory.
const MAX_LINE_BYTES: usize = 64 * 1024;

/// Bytes asked for at each read.
const READ_BYTES: u64 = 64 * 1024;

/// Where the run's downloads come from.
pub enum Downloads {
    /// The URLs given on the command line, checked already.
    Given {
        queue: VecDeque<Options>,
        total: usize,
    },
    Listed(Box<ListSource>),
}

/// What the run gets when it asks for its next download.
pub enum Next {
    Download(Box<Options>),
    /// Nothing yet: standard input has no complete entry (wait on
    /// [`Downloads::pollable`]).
    Wait,
    End,
}

impl Downloads {
    /// The next download; a mistake in the list (a usage error), once.
    pub fn next(&mut self, claims: &mut PathClaims) -> Result<Next, Failure> {
        match self {
            Downloads::Given { queue, .. } => Ok(queue
                .pop_front()
                .map_or(Next::End, |download| Next::Download(Box::new(download)))),
            Downloads::Listed(source) => source.next(claims),
        }
    }

    /// What to wait on for the next entry, while standard input is read.
    pub fn pollable(&self) -> Option<&Pollable> {
        match self {
            Downloads::Listed(source) => source.pollable(),
            Downloads::Given { .. } => None,
        }
    }

    /// How many files the run has: all of them, known from the start,
    /// except on standard input (those read so far).
    pub fn files(&self) -> usize {
        match self {
            Downloads::Given { total, .. } => *total,
            Downloads::Listed(source) => source.total.unwrap_or(source.listed.made()),
        }
    }
}

impl From<Vec<Options>> for Downloads {
    fn from(downloads: Vec<Options>) -> Downloads {
        Downloads::Given {
            total: downloads.len(),
            queue: downloads.into(),
        }
    }
}

/// An `-i` list being read.
pub struct ListSource {
    input: Input,
    listed: ListedDownloads,
    /// Bytes read after the last complete line.
    pending: Vec<u8>,
    ended: bool,
    /// The number of entries, when the list was read through first.
    total: Option<usize>,
}

enum Input {
    /// A regular file: its reads never wait long.
    File(std::fs::File),
    /// Standard input, read only when it has something (a producer that
    /// is slow to write must not hold up the downloads under way).
    Stdin {
        // Declared first: a pollable is dropped before its stream.
        ready: Pollable,
        stream: InputStream,
    },
}

impl ListSource {
    /// Opens `run`'s list. A file is read through once first, claiming
    /// every entry's path in `claims`: a mistake or a clash anywhere in it
    /// stops the run before anything is fetched.
    pub fn open(run: &Options, claims: &mut PathClaims) -> Result<ListSource, Failure> {
        let path = run.input_file.as_deref().unwrap_or(STDIN_LIST);
        if path == STDIN_LIST {
            let stream = get_stdin();
            return Ok(ListSource::new(
                run,
                Input::Stdin {
                    ready: stream.subscribe(),
                    stream,
                },
            ));
        }
        let mut check = ListSource::new(run, Input::File(open_list(path)?));
        while let Next::Download(_) = check.next(claims)? {}
        let mut source = ListSource::new(run, Input::File(open_list(path)?));
        source.total = Some(check.listed.made());
        Ok(source)
    }

    fn new(run: &Options, input: Input) -> ListSource {
        ListSource {
            input,
            listed: ListedDownloads::new(run),
            pending: Vec::new(),
            ended: false,
            total: None,
        }
    }

    fn next(&mut self, claims: &mut PathClaims) -> Result<Next, Failure> {
        loop {
            if self.ended {
                return Ok(Next::End);
            }
            while let Some(newline) = self.pending.iter().position(|&b| b == b'\n') {
                let line: Vec<u8> = self.pending.drain(..=newline).collect();
                if let Some(download) = self.take_line(&line[..newline], claims)? {
                    return Ok(Next::Download(download));
                }
            }
            if self.pending.len() > MAX_LINE_BYTES {
                self.ended = true;
                return Err(usage(format!(
                    "{}: line {} is longer than {} KiB; a list holds a URL per line",
                    self.listed.list(),
                    self.listed.lines() + 1,
                    MAX_LINE_BYTES / 1024
                )));
            }
            match self.read()? {
                Got::Some => {}
                Got::Nothing => return Ok(Next::Wait),
                Got::End => {
                    // A last line without its newline, then the last entry.
                    let rest = std::mem::take(&mut self.pending);
                    if !rest.is_empty() {
                        if let Some(download) = self.take_line(&rest, claims)? {
                            return Ok(Next::Download(download));
                        }
                    }
                    self.ended = true;
                    let last = self.listed.end(claims).map_err(usage)?;
                    return Ok(
                        last.map_or(Next::End, |download| Next::Download(Box::new(download)))
                    );
                }
            }
        }
    }

    /// One line of the list; the download it completes, if any.
    fn take_line(
        &mut self,
        line: &[u8],
        claims: &mut PathClaims,
    ) -> Result<Option<Box<Options>>, Failure> {
        let Ok(text) = std::str::from_utf8(line) else {
            self.ended = true;
            return Err(usage(format!(
                "{}: line {} is not UTF-8 text",
                self.listed.list(),
                self.listed.lines() + 1
            )));
        };
        let download = self
            .listed
            .line(text.trim_end_matches('\r'), claims)
            .map_err(usage)?;
        Ok(download.map(Box::new))
    }

    fn pollable(&self) -> Option<&Pollable> {
        match &self.input {
            Input::Stdin { ready, .. } if !self.ended => Some(ready),
            _ => None,
        }
    }

    fn read(&mut self) -> Result<Got, Failure> {
        match &mut self.input {
            Input::File(file) => {
                let mut buf = vec![0; READ_BYTES as usize];
                match file.read(&mut buf) {
                    Ok(0) => Ok(Got::End),
                    Ok(n) => {
                        self.pending.extend_from_slice(&buf[..n]);
                        Ok(Got::Some)
                    }
                    Err(e) => Err(read_error(self.listed.list(), e.to_string())),
                }
            }
            Input::Stdin { stream, .. } => match InputStream::read(stream, READ_BYTES) {
                Ok(bytes) if bytes.is_empty() => Ok(Got::Nothing),
                Ok(bytes) => {
                    self.pending.extend_from_slice(&bytes);
                    Ok(Got::Some)
                }
                Err(StreamError::Closed) => Ok(Got::End),
                Err(StreamError::LastOperationFailed(e)) => {
                    Err(read_error(self.listed.list(), e.to_debug_string()))
                }
            },
        }
    }
}

enum Got {
    Some,
    Nothing,
    End,
}

fn open_list(path: &str) -> Result<std::fs::File, Failure> {
    std::fs::File::open(path)
        .map_err(|e| read_error(&format!("the input file {path}"), e.to_string()))
}

fn read_error(name: &str, error: String) -> Failure {
    Reason::Io {
        operation: "read".into(),
        path: name.to_string(),
        error: IoError::Other(error),
    }
    .into()
}

fn usage(message: String) -> Failure {
    Reason::Usage(message).into()
}
