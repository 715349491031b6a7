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
    /// Nothing more is read: the list ended, or a mistake ended it.
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
            ended: false,
            total: None,
        }
    }

    fn next(&mut self, claims: &mut PathClaims) -> Result<Next, Failure> {
        loop {
            match self.listed.next_ready() {
                Some(Ok(download)) => return Ok(Next::Download(Box::new(download))),
                Some(Err(mistake)) => {
                    self.ended = true;
                    return Err(Reason::Usage(mistake).into());
                }
                None if self.ended => return Ok(Next::End),
                None => {}
            }
            match self.read()? {
                Got::Bytes(data) => self.listed.bytes(&data, claims),
                Got::Nothing => return Ok(Next::Wait),
                Got::End => {
                    self.ended = true;
                    self.listed.end_of_bytes(claims);
                }
            }
        }
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
                        buf.truncate(n);
                        Ok(Got::Bytes(buf))
                    }
                    Err(e) => Err(read_error(self.listed.list(), e.to_string())),
                }
            }
            Input::Stdin { stream, .. } => match InputStream::read(stream, READ_BYTES) {
                Ok(bytes) if bytes.is_empty() => Ok(Got::Nothing),
                Ok(bytes) => Ok(Got::Bytes(bytes)),
                Err(StreamError::Closed) => Ok(Got::End),
                Err(StreamError::LastOperationFailed(e)) => {
                    Err(read_error(self.listed.list(), e.to_debug_string()))
                }
            },
        }
    }
}

enum Got {
    Bytes(Vec<u8>),
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

/// A metalink's whole text (`-M FILE`, or `-` for standard input), read
/// at most to the parser's limit: a longer one is refused, not held.
pub fn read_metalink(path: &str) -> Result<String, Failure> {
    let limit = rangeget_core::metalink::MAX_TEXT_BYTES as u64;
    let name = format!("the metalink {}", rangeget_options::list_name(path));
    let mut bytes = Vec::new();
    if path == STDIN_LIST {
        let stream = get_stdin();
        loop {
            match stream.blocking_read(READ_BYTES) {
                Ok(data) => bytes.extend(data),
                Err(StreamError::Closed) => break,
                Err(StreamError::LastOperationFailed(e)) => {
                    return Err(read_error(&name, e.to_debug_string()))
                }
            }
            if bytes.len() as u64 > limit {
                break;
            }
        }
    } else {
        let file = std::fs::File::open(path).map_err(|e| read_error(&name, e.to_string()))?;
        file.take(limit + 1)
            .read_to_end(&mut bytes)
            .map_err(|e| read_error(&name, e.to_string()))?;
    }
    if bytes.len() as u64 > limit {
        let too_long = format!("{name} is longer than {} MiB", limit >> 20);
        return Err(Reason::Usage(too_long).into());
    }
    String::from_utf8(bytes).map_err(|_| Reason::Usage(format!("{name} is not UTF-8 text")).into())
}
