//! The destination directory, reached only through the runtime's preopens:
//! the component can write nowhere else, whatever a server says.

use rangeget_core::range::ByteRange;
use rangeget_core::Failure;
use wasip2::filesystem::preopens::get_directories;
use wasip2::filesystem::types::{
    Advice, Descriptor, DescriptorFlags, ErrorCode, OpenFlags, PathFlags,
};

/// Where the download goes: a preopened directory and a name inside it.
pub struct OutputDir {
    dir: Descriptor,
    /// Path of the file relative to `dir` (may contain subdirectories).
    name: String,
    /// The path as the user gave it, for messages.
    pub display: String,
}

/// The `FILE.part` being filled in.
pub struct PartFile {
    file: Descriptor,
}

impl OutputDir {
    /// Finds the preopen that contains `path` (the longest matching one).
    pub fn for_path(path: &str) -> Result<OutputDir, Failure> {
        let mut best: Option<(Descriptor, String, usize)> = None;
        for (dir, guest) in get_directories() {
            let Some(relative) = relative_to(path, &guest) else {
                continue;
            };
            if best.as_ref().is_none_or(|(_, _, len)| guest.len() > *len) {
                best = Some((dir, relative, guest.len()));
            }
        }
        let Some((dir, name, _)) = best else {
            return Err(Failure::file(format!(
                "cannot write {path}: this component was given no access to that directory \
                 (with the wasmtime CLI, grant it with --dir HOSTDIR::GUESTDIR)"
            )));
        };
        if name.is_empty() || name.split('/').any(|c| c == "..") {
            return Err(Failure::file(format!(
                "'{path}' is not a file path inside the output directory"
            )));
        }
        Ok(OutputDir {
            dir,
            name,
            display: path.to_string(),
        })
    }

    pub fn part_name(&self) -> String {
        format!("{}.part", self.name)
    }

    pub fn meta_name(&self) -> String {
        format!("{}.part.meta", self.name)
    }

    pub fn final_exists(&self) -> bool {
        self.exists(&self.name)
    }

    pub fn exists(&self, name: &str) -> bool {
        self.dir.stat_at(PathFlags::empty(), name).is_ok()
    }

    /// The whole content of `name`, or `None` if it does not exist.
    pub fn read(&self, name: &str) -> Result<Option<Vec<u8>>, Failure> {
        let file = match self.dir.open_at(
            PathFlags::empty(),
            name,
            OpenFlags::empty(),
            DescriptorFlags::READ,
        ) {
            Ok(file) => file,
            Err(ErrorCode::NoEntry) => return Ok(None),
            Err(e) => return Err(self.fs_error("open", name, e)),
        };
        let mut content = Vec::new();
        loop {
            let (data, end) = file
                .read(64 * 1024, content.len() as u64)
                .map_err(|e| self.fs_error("read", name, e))?;
            content.extend_from_slice(&data);
            if end || data.is_empty() {
                return Ok(Some(content));
            }
        }
    }

    /// Replaces `name` so that a crash leaves either the old or the new
    /// content, never a torn mix: write a temporary file, rename it over.
    /// `durable` also syncs the file and the directory, so the new content
    /// survives a power loss, not just a killed process.
    pub fn write_atomically(
        &self,
        name: &str,
        content: &[u8],
        durable: bool,
    ) -> Result<(), Failure> {
        let tmp = format!("{name}.tmp");
        let file = self
            .dir
            .open_at(
                PathFlags::empty(),
                &tmp,
                OpenFlags::CREATE | OpenFlags::TRUNCATE,
                DescriptorFlags::WRITE,
            )
            .map_err(|e| self.fs_error("create", &tmp, e))?;
        write_all_at(&file, content, 0).map_err(|e| self.fs_error("write", &tmp, e))?;
        if durable {
            file.sync().map_err(|e| self.fs_error("sync", &tmp, e))?;
        }
        drop(file);
        self.dir
            .rename_at(&tmp, &self.dir, name)
            .map_err(|e| self.fs_error("rename", &tmp, e))?;
        if durable {
            // Makes the rename itself durable; not every runtime allows syncing
            // a directory, and the rename is already atomic without it.
            let _ = self.dir.sync();
        }
        Ok(())
    }

    pub fn remove(&self, name: &str) -> Result<(), Failure> {
        // Nothing to do for a missing file, and asking anyway fails on a
        // read-only file system with a less useful error than the create
        // that comes next.
        if !self.exists(name) {
            return Ok(());
        }
        match self.dir.unlink_file_at(name) {
            Ok(()) | Err(ErrorCode::NoEntry) => Ok(()),
            Err(e) => Err(self.fs_error("remove", name, e)),
        }
    }

    /// Gives up on the `.part` (kept for inspection) by dropping its meta,
    /// so the next run starts clean instead of trusting it.
    pub fn abandon_part(&self) -> Result<(), Failure> {
        self.remove(&self.meta_name())
    }

    /// Moves the finished `.part` to the final name, then drops the meta.
    pub fn publish(&self) -> Result<(), Failure> {
        let part = self.part_name();
        self.dir
            .rename_at(&part, &self.dir, &self.name)
            .map_err(|e| self.fs_error("rename", &part, e))?;
        let _ = self.dir.sync();
        self.remove(&self.meta_name())
    }

    /// Creates (or truncates) `FILE.part`, sized up front when the size is
    /// known so that every chunk can be written at its offset from the start.
    pub fn create_part(&self, size: Option<u64>) -> Result<PartFile, Failure> {
        let name = self.part_name();
        let file = self
            .dir
            .open_at(
                PathFlags::empty(),
                &name,
                OpenFlags::CREATE | OpenFlags::TRUNCATE,
                DescriptorFlags::READ | DescriptorFlags::WRITE,
            )
            .map_err(|e| self.fs_error("create", &name, e))?;
        if let Some(size) = size {
            file.set_size(size)
                .map_err(|e| self.fs_error("allocate", &name, e))?;
        }
        Ok(PartFile { file })
    }

    /// Opens an existing `FILE.part` to continue it; `None` if absent.
    pub fn open_part(&self) -> Result<Option<(PartFile, u64)>, Failure> {
        let name = self.part_name();
        match self.dir.open_at(
            PathFlags::empty(),
            &name,
            OpenFlags::empty(),
            DescriptorFlags::READ | DescriptorFlags::WRITE,
        ) {
            Ok(file) => {
                let len = file
                    .stat()
                    .map_err(|e| self.fs_error("stat", &name, e))?
                    .size;
                Ok(Some((PartFile { file }, len)))
            }
            Err(ErrorCode::NoEntry) => Ok(None),
            Err(e) => Err(self.fs_error("open", &name, e)),
        }
    }

    pub fn part_display(&self) -> String {
        format!("{}.part", self.display)
    }

    pub fn fs_error(&self, action: &str, name: &str, code: ErrorCode) -> Failure {
        let dir = self.display.rsplit_once('/').map_or(".", |(d, _)| d);
        let hint = match code {
            ErrorCode::InsufficientSpace | ErrorCode::Quota => {
                "; free some disk space and run the same command again"
            }
            ErrorCode::ReadOnly | ErrorCode::Access | ErrorCode::NotPermitted => {
                "; check the directory's permissions"
            }
            // Some runtimes report a read-only file system as a plain I/O error.
            ErrorCode::Io if action == "create" => {
                "; check that the directory is writable (not on a read-only file system)"
            }
            ErrorCode::FileTooLarge => {
                "; the file system or a process limit does not allow a file this large"
            }
            _ => "",
        };
        Failure::file(format!(
            "cannot {action} {name} in {dir}/: {}{hint}",
            describe(code)
        ))
    }
}

impl PartFile {
    /// Writes `data` at `offset` (a positional write, never an append: chunks
    /// arrive out of order and each belongs at its own place).
    pub fn write_at(&self, data: &[u8], offset: u64) -> Result<(), ErrorCode> {
        write_all_at(&self.file, data, offset)
    }

    pub fn read_at(&self, len: u64, offset: u64) -> Result<Vec<u8>, ErrorCode> {
        Ok(self.file.read(len, offset)?.0)
    }

    pub fn sync_data(&self) -> Result<(), ErrorCode> {
        self.file.sync_data()
    }

    /// Asks the system to start storing `range` on disk now, in the
    /// background, so that the periodic and final syncs find little left to
    /// wait for. Without it the kernel holds written data back for up to
    /// 30 s, and each sync then stalls every transfer while the disk catches
    /// up. Only a hint: on Linux `POSIX_FADV_DONTNEED` starts write-back of
    /// the dirty pages; runtimes that ignore it lose nothing but the head start.
    pub fn start_writeback(&self, range: ByteRange) {
        let _ = self
            .file
            .advise(range.start(), range.len(), Advice::DontNeed);
    }

    pub fn len(&self) -> Result<u64, ErrorCode> {
        Ok(self.file.stat()?.size)
    }

    pub fn truncate(&self) -> Result<(), ErrorCode> {
        self.file.set_size(0)
    }
}

fn write_all_at(file: &Descriptor, mut data: &[u8], mut offset: u64) -> Result<(), ErrorCode> {
    while !data.is_empty() {
        let written = file.write(data, offset)?;
        if written == 0 {
            return Err(ErrorCode::Io);
        }
        data = &data[written as usize..];
        offset += written;
    }
    Ok(())
}

/// `path` relative to the preopen named `guest`, if it lies inside it.
fn relative_to(path: &str, guest: &str) -> Option<String> {
    let guest = guest.trim_end_matches('/');
    if guest.is_empty() {
        // The preopen is "/" itself.
        return path.strip_prefix('/').map(str::to_string);
    }
    if guest == "." {
        return (!path.starts_with('/')).then(|| path.trim_start_matches("./").to_string());
    }
    path.strip_prefix(guest)?
        .strip_prefix('/')
        .map(str::to_string)
}

pub fn describe(code: ErrorCode) -> String {
    match code {
        ErrorCode::NoEntry => "no such file or directory".into(),
        ErrorCode::Access | ErrorCode::NotPermitted => "permission denied".into(),
        ErrorCode::ReadOnly => "read-only file system".into(),
        ErrorCode::InsufficientSpace => "no space left on device".into(),
        ErrorCode::Quota => "disk quota exceeded".into(),
        ErrorCode::FileTooLarge => "file too large".into(),
        ErrorCode::NotDirectory => "not a directory".into(),
        ErrorCode::IsDirectory => "is a directory".into(),
        other => other.message().trim_end_matches('.').to_string(),
    }
}
