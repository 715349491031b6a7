//! Files in a directory shared with strangers, through wasi:filesystem:
//! only regular files are read (a FIFO would hang the read), never more
//! than a bound, and a failure reads as what to do about it. Used by the
//! output directory and by the locks beside its files.

use rangeget_core::failure::{IoError, Reason};
use rangeget_core::Failure;
use wasip2::filesystem::types::{
    Descriptor, DescriptorFlags, DescriptorType, ErrorCode, OpenFlags, PathFlags,
};

/// Why a file could not be read.
pub enum FsError {
    Code(ErrorCode),
    /// A FIFO, device, directory or link where a regular file belongs.
    NotRegular(&'static str),
    /// One of rangeget's own files with this many names (hard links).
    Linked(u64),
}

impl FsError {
    /// The error as a user reads it, for `display` (a path).
    pub fn failure(&self, action: &str, display: &str) -> Failure {
        let reason = match self {
            FsError::Code(code) => Reason::Io {
                operation: action.to_string(),
                path: display.to_string(),
                error: io_error(*code),
            },
            FsError::NotRegular(what) => Reason::NotRegular {
                path: display.to_string(),
                what,
            },
            FsError::Linked(links) => Reason::Linked {
                path: display.to_string(),
                links: *links,
            },
        };
        reason.into()
    }
}

impl From<ErrorCode> for FsError {
    fn from(code: ErrorCode) -> FsError {
        FsError::Code(code)
    }
}

/// The size of `name`, a regular file (links are not followed).
pub fn regular_file_size(dir: &Descriptor, name: &str) -> Result<u64, FsError> {
    let stat = dir.stat_at(PathFlags::empty(), name)?;
    let kind = match stat.type_ {
        DescriptorType::RegularFile => return Ok(stat.size),
        DescriptorType::Fifo => "a FIFO",
        DescriptorType::Directory => "a directory",
        DescriptorType::SymbolicLink => "a symbolic link",
        DescriptorType::Socket => "a socket",
        DescriptorType::BlockDevice | DescriptorType::CharacterDevice => "a device",
        // What wasmtime reports for a FIFO.
        DescriptorType::Unknown => "a special file (a FIFO, socket or device)",
    };
    Err(FsError::NotRegular(kind))
}

/// Checks that an opened file of rangeget's own (a `.part`, meta or lock)
/// has no other name: a hard link planted there would have rangeget write
/// into the file of that other name. The opened descriptor is what is
/// looked at, so a swap after the look at the name does not matter.
pub fn only_name(file: &Descriptor) -> Result<(), FsError> {
    match file.stat()?.link_count {
        0 | 1 => Ok(()),
        links => Err(FsError::Linked(links)),
    }
}

/// At most `max` bytes of `name`, one of rangeget's own files (regular,
/// with no other name), or `None` if it does not exist.
pub fn read_own_file(dir: &Descriptor, name: &str, max: u64) -> Result<Option<Vec<u8>>, FsError> {
    match regular_file_size(dir, name) {
        Ok(_) => {}
        Err(FsError::Code(ErrorCode::NoEntry)) => return Ok(None),
        Err(e) => return Err(e),
    }
    let file = match dir.open_at(
        PathFlags::empty(),
        name,
        OpenFlags::empty(),
        DescriptorFlags::READ,
    ) {
        Ok(file) => file,
        Err(ErrorCode::NoEntry) => return Ok(None),
        Err(e) => return Err(e.into()),
    };
    only_name(&file)?;
    let mut content = Vec::new();
    while (content.len() as u64) < max {
        let want = (max - content.len() as u64).min(64 * 1024);
        let (data, end) = file.read(want, content.len() as u64)?;
        content.extend_from_slice(&data);
        if end || data.is_empty() {
            break;
        }
    }
    Ok(Some(content))
}

/// The runtime's error code as the core words it.
pub fn io_error(code: ErrorCode) -> IoError {
    match code {
        ErrorCode::NoEntry => IoError::NoEntry,
        ErrorCode::Access | ErrorCode::NotPermitted => IoError::Access,
        ErrorCode::ReadOnly => IoError::ReadOnly,
        ErrorCode::InsufficientSpace => IoError::NoSpace,
        ErrorCode::Quota => IoError::Quota,
        ErrorCode::FileTooLarge => IoError::TooLarge,
        ErrorCode::NotDirectory => IoError::NotDirectory,
        ErrorCode::IsDirectory => IoError::IsDirectory,
        ErrorCode::Io => IoError::Io,
        ErrorCode::InvalidSeek => IoError::NotSeekable,
        other => IoError::Other(other.message().to_string()),
    }
}
