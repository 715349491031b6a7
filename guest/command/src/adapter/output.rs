//! The destination directory, reached only through the runtime's preopens:
//! the component can write nowhere else, whatever a server says.
//!
//! Everything here treats the directory as shared with strangers: only
//! regular files are read (a FIFO would hang the read), never more than a
//! bound, a `.part` is always a new file (truncating one in place writes
//! through every hard link to it), and the finished file never replaces
//! one that appeared meanwhile.

use std::cell::Cell;
use std::rc::Rc;

use rangeget_core::failure::Reason;
use rangeget_core::paths::{
    in_preopens, lock_path, meta_path, meta_tmp_path, parent_dirs, part_path,
};
use rangeget_core::ByteRange;
use rangeget_core::Failure;
use wasip2::clocks::wall_clock::Datetime;
use wasip2::filesystem::preopens::get_directories;
use wasip2::filesystem::types::{
    Advice, Descriptor, DescriptorFlags, DescriptorType, ErrorCode, NewTimestamp, OpenFlags,
    PathFlags,
};
use wasip2::io::streams::OutputStream;

use super::files::{only_name, read_own_file, regular_file_size, FsError};
use super::lease::{self, LeaseKey, Taken};

/// Where the download goes: a preopened directory and a name inside it.
pub struct OutputDir {
    dir: Rc<Descriptor>,
    /// Path of the file relative to `dir` (may contain subdirectories).
    name: String,
    /// The path as the user gave it, for messages.
    pub display: String,
    /// The destination's lock, once this run holds it.
    lease: Cell<Option<LeaseKey>>,
    /// Known not to have a meta file: only this run writes one while it
    /// holds the lock, so a look found none and none was written since.
    meta_absent: Cell<bool>,
}

/// What stands at a destination: whether anything does, and a regular
/// file's size and modification time (Unix seconds).
pub type Standing = (bool, Option<(u64, Option<u64>)>);

/// The `FILE.part` being filled in.
pub struct PartFile {
    file: Descriptor,
}

impl OutputDir {
    /// Finds the preopen that contains `path` (see `paths::in_preopens`).
    pub fn for_path(path: &str) -> Result<OutputDir, Failure> {
        let opened = preopens();
        let guests: Vec<&str> = opened.iter().map(|(_, guest)| guest.as_str()).collect();
        let (at, name) = in_preopens(path, &guests)?;
        let dir = Rc::clone(&opened[at].0);
        Ok(OutputDir {
            dir,
            name,
            display: path.to_string(),
            lease: Cell::new(None),
            meta_absent: Cell::new(false),
        })
    }

    /// Makes the directories between the granted one and the file (a
    /// manifest's `dir=sub/deeper`), as aria2c does.
    pub fn make_parent_dirs(&self) -> Result<(), Failure> {
        for dir in parent_dirs(&self.name) {
            match self.dir.create_directory_at(dir) {
                Ok(()) | Err(ErrorCode::Exist) => {}
                Err(e) => return Err(self.fs_error("create the directory", dir, e)),
            }
        }
        Ok(())
    }

    /// Takes the destination's lock for this run (see `lease`), before
    /// anything of it is read or written, or starts watching the lock in
    /// the way (then [`OutputDir::hold`] the key the watch ends with). It
    /// is released when `self` is dropped.
    pub fn try_lock(&self, token: Option<u64>) -> Result<Option<lease::Waiting>, Failure> {
        match lease::try_acquire(Rc::clone(&self.dir), &self.name, &self.display, token)? {
            Taken::Held(key) => {
                self.hold(key);
                Ok(None)
            }
            Taken::Waiting(waiting) => Ok(Some(waiting)),
        }
    }

    pub fn hold(&self, key: LeaseKey) {
        self.lease.set(Some(key));
    }

    /// Whether this run holds the destination's lock.
    pub fn holds_lock(&self) -> bool {
        self.lease.get().is_some()
    }

    /// An error once this destination's lock is no longer this run's.
    pub fn check_lease(&self) -> Result<(), Failure> {
        self.lease.get().map_or(Ok(()), lease::check)
    }

    fn confirm_lease(&self) -> Result<(), Failure> {
        self.lease.get().map_or(Ok(()), lease::confirm)
    }

    /// The character device or FIFO standing at the file's name, opened to
    /// write into in order (never created, truncated or replaced), and its
    /// stream; `None` when something else or nothing stands there.
    pub fn open_device(&self) -> Result<Option<(Descriptor, OutputStream)>, Failure> {
        let Ok(stat) = self.dir.stat_at(PathFlags::SYMLINK_FOLLOW, &self.name) else {
            return Ok(None);
        };
        // wasmtime reports a FIFO as `unknown`.
        let device = matches!(
            stat.type_,
            DescriptorType::CharacterDevice | DescriptorType::Fifo | DescriptorType::Unknown
        );
        if !device {
            return Ok(None);
        }
        let file = self
            .dir
            .open_at(
                PathFlags::SYMLINK_FOLLOW,
                &self.name,
                OpenFlags::empty(),
                DescriptorFlags::WRITE,
            )
            .map_err(|e| self.fs_error("open", &self.name, e))?;
        let stream = file
            .append_via_stream()
            .map_err(|e| self.fs_error("write", &self.name, e))?;
        Ok(Some((file, stream)))
    }

    /// Whether something stands at the file's name, and its size and
    /// modification time if it is a regular file: one look. A device, FIFO
    /// or socket there is refused: a download that is one of several files
    /// never writes into one or replaces it, `--force` or not (a single
    /// download streams into it, see `open_device`).
    pub fn look_at_final(&self) -> Result<Standing, Failure> {
        let Ok(stat) = self.dir.stat_at(PathFlags::empty(), &self.name) else {
            return Ok((false, None));
        };
        let special = match stat.type_ {
            DescriptorType::RegularFile => {
                let mtime = stat.data_modification_timestamp.map(|t| t.seconds);
                return Ok((true, Some((stat.size, mtime))));
            }
            DescriptorType::Directory | DescriptorType::SymbolicLink => return Ok((true, None)),
            DescriptorType::CharacterDevice | DescriptorType::BlockDevice => "a device",
            DescriptorType::Fifo | DescriptorType::Unknown => "a FIFO or socket",
            DescriptorType::Socket => "a socket",
        };
        Err(Reason::Destination(format!(
            "{} is {special}, which rangeget never replaces: it streams into a device or FIFO \
             only as the one download of a run (-o {})",
            self.display, self.display
        ))
        .into())
    }

    pub fn final_name(&self) -> String {
        self.name.clone()
    }

    pub fn part_name(&self) -> String {
        part_path(&self.name)
    }

    pub fn meta_name(&self) -> String {
        meta_path(&self.name)
    }

    pub fn lock_name(&self) -> String {
        lock_path(&self.name)
    }

    /// Under this run's lock, next to a complete file: a `.part` without a
    /// meta is what a run killed while naming the file left (it is not
    /// trusted anyway); one with a meta is a replacement under way, kept
    /// for the run that resumes it.
    pub fn remove_untrusted_part(&self) -> Result<(), Failure> {
        if self.exists(&self.meta_name()) {
            return Ok(());
        }
        self.remove(&self.part_name())
    }

    pub fn exists(&self, name: &str) -> bool {
        self.dir.stat_at(PathFlags::empty(), name).is_ok()
    }

    /// At most `max + 1` bytes of `name` (so that a caller can tell it is
    /// too large), or `None` if it does not exist. Only a regular file is
    /// read.
    fn read(&self, name: &str, max: u64) -> Result<Option<Vec<u8>>, Failure> {
        read_own_file(&self.dir, name, max + 1).map_err(|e| self.fs_failure("read", name, e))
    }

    /// Replaces `name` so that a crash leaves either the old or the new
    /// content, never a torn mix: write a temporary file, rename it over.
    /// `durable` also syncs the file and the directory, so the new content
    /// survives a power loss, not just a killed process.
    fn write_atomically(
        &self,
        name: &str,
        tmp: &str,
        content: &[u8],
        durable: bool,
    ) -> Result<(), Failure> {
        let (file, _) = self.create_fresh(tmp, DescriptorFlags::WRITE)?;
        write_all_at(&file, content, 0).map_err(|e| self.fs_error("write", tmp, e))?;
        if durable {
            file.sync().map_err(|e| self.fs_error("sync", tmp, e))?;
        }
        drop(file);
        self.dir
            .rename_at(tmp, &self.dir, name)
            .map_err(|e| self.fs_error("rename", tmp, e))?;
        if durable {
            // Makes the rename itself durable; not every runtime allows syncing
            // a directory, and the rename is already atomic without it.
            let _ = self.dir.sync();
        }
        Ok(())
    }

    /// Replaces the file at this path with `content`, whole (a file of the
    /// run's own: the saved cookies).
    pub fn replace_with(&self, content: &[u8]) -> Result<(), Failure> {
        let tmp = format!("{}.rangeget-tmp", self.name);
        self.write_atomically(&self.name, &tmp, content, false)
    }

    /// The meta file (see [`OutputDir::read`]).
    pub fn read_meta(&self, max: u64) -> Result<Option<Vec<u8>>, Failure> {
        let meta = self.read(&self.meta_name(), max)?;
        self.meta_absent.set(meta.is_none());
        Ok(meta)
    }

    /// Records progress in the meta file (see [`OutputDir::write_atomically`]),
    /// once the lock is known to be this run's still: a run stopped past its
    /// lease (SIGSTOP) whose download another run finished meanwhile must
    /// not leave a meta beside that finished file.
    pub fn write_meta(&self, content: &[u8], durable: bool) -> Result<(), Failure> {
        self.confirm_lease()?;
        self.meta_absent.set(false);
        self.write_atomically(
            &self.meta_name(),
            &meta_tmp_path(&self.name),
            content,
            durable,
        )
    }

    /// Removes the meta file, if there may be one.
    pub fn remove_meta(&self) -> Result<(), Failure> {
        if self.meta_absent.get() {
            return Ok(());
        }
        self.remove(&self.meta_name())?;
        self.meta_absent.set(true);
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

    /// Gives the finished `.part` its final name, then drops the meta.
    /// Unless `replace`, a file that appeared at the final name meanwhile
    /// stays: the name is taken with a hard link, which fails if it exists.
    /// `sync_dir`: the new name is synced to disk now (a batch syncs its
    /// directories once, at its end; `--no-fsync` never).
    pub fn publish(&self, replace: bool, sync_dir: bool) -> Result<(), Failure> {
        self.confirm_lease()?;
        let part = self.part_name();
        let linked = !replace && self.link_part_to_final()?;
        if linked {
            // Not a rename: renaming a file onto another link of itself
            // does nothing at all (POSIX), and the `.part` name would stay.
            self.dir
                .unlink_file_at(&part)
                .map_err(|e| self.fs_error("remove", &part, e))?;
        } else {
            self.dir
                .rename_at(&part, &self.dir, &self.name)
                .map_err(|e| self.fs_error("rename", &part, e))?;
        }
        if sync_dir {
            self.sync_dir();
        }
        self.remove_meta()
    }

    /// Syncs the directory the file is in, so that its names survive a
    /// power loss. Only a hint: a runtime that refuses loses nothing else.
    pub fn sync_dir(&self) {
        let _ = match self.name.rsplit_once('/') {
            Some((parent, _)) => self
                .dir
                .open_at(
                    PathFlags::empty(),
                    parent,
                    OpenFlags::DIRECTORY,
                    DescriptorFlags::READ,
                )
                .and_then(|sub| sub.sync()),
            None => self.dir.sync(),
        };
    }

    /// Links the `.part` to the final name; false where the file system
    /// has no hard links (the caller renames, once it is sure no file
    /// stands there).
    fn link_part_to_final(&self) -> Result<bool, Failure> {
        let part = self.part_name();
        match self
            .dir
            .link_at(PathFlags::empty(), &part, &self.dir, &self.name)
        {
            Ok(()) => Ok(true),
            Err(ErrorCode::Exist) => Err(self.appeared()),
            // File systems without hard links: the check and the rename
            // are then two steps, as close together as they can be.
            Err(ErrorCode::NotPermitted | ErrorCode::Unsupported | ErrorCode::CrossDevice) => {
                if self.exists(&self.name) {
                    return Err(self.appeared());
                }
                Ok(false)
            }
            Err(e) => Err(self.fs_error("link", &part, e)),
        }
    }

    fn appeared(&self) -> Failure {
        Reason::Appeared {
            path: self.display.clone(),
            kept: self.part_display(),
        }
        .into()
    }

    /// Creates `FILE.part` anew, sized up front when the size is known so
    /// that every chunk can be written at its offset from the start; and
    /// whether a `.part` stood there before (it was replaced).
    pub fn create_part(&self, size: Option<u64>) -> Result<(PartFile, bool), Failure> {
        self.confirm_lease()?;
        let name = self.part_name();
        let (file, replaced) =
            self.create_fresh(&name, DescriptorFlags::READ | DescriptorFlags::WRITE)?;
        if let Some(size) = size {
            file.set_size(size)
                .map_err(|e| self.fs_error("allocate", &name, e))?;
        }
        Ok((PartFile { file }, replaced))
    }

    /// A new, empty file at `name`, and whether something was there:
    /// whatever was is unlinked first, so a hard link to someone else's
    /// file is never written through, and a FIFO or device never opened.
    fn create_fresh(
        &self,
        name: &str,
        flags: DescriptorFlags,
    ) -> Result<(Descriptor, bool), Failure> {
        let create = || {
            self.dir.open_at(
                PathFlags::empty(),
                name,
                OpenFlags::CREATE | OpenFlags::EXCLUSIVE,
                flags,
            )
        };
        match create() {
            Err(ErrorCode::Exist) => {
                self.remove(name)?;
                create().map(|file| (file, true))
            }
            first => first.map(|file| (file, false)),
        }
        .map_err(|e| self.fs_error("create", name, e))
    }

    /// Opens an existing `FILE.part` to continue it; `None` if absent.
    /// A `.part` with another name (a hard link) is refused: it would be
    /// written through.
    pub fn open_part(&self) -> Result<Option<(PartFile, u64)>, Failure> {
        let name = self.part_name();
        let opened = self.open_existing(&name, DescriptorFlags::READ | DescriptorFlags::WRITE)?;
        if let Some((part, _)) = &opened {
            only_name(&part.file).map_err(|e| self.fs_failure("open", &name, e))?;
        }
        Ok(opened)
    }

    /// Opens the final file to read it (a checksum of a file already there;
    /// the user's own, which may well have other names).
    pub fn open_final(&self) -> Result<Option<(PartFile, u64)>, Failure> {
        self.open_existing(&self.name, DescriptorFlags::READ)
    }

    fn open_existing(
        &self,
        name: &str,
        flags: DescriptorFlags,
    ) -> Result<Option<(PartFile, u64)>, Failure> {
        if let Err(e) = regular_file_size(&self.dir, name) {
            return match e {
                FsError::Code(ErrorCode::NoEntry) => Ok(None),
                e => Err(self.fs_failure("open", name, e)),
            };
        }
        match self
            .dir
            .open_at(PathFlags::empty(), name, OpenFlags::empty(), flags)
        {
            Ok(file) => {
                let len = file
                    .stat()
                    .map_err(|e| self.fs_error("stat", name, e))?
                    .size;
                Ok(Some((PartFile { file }, len)))
            }
            Err(ErrorCode::NoEntry) => Ok(None),
            Err(e) => Err(self.fs_error("open", name, e)),
        }
    }

    pub fn part_display(&self) -> String {
        part_path(&self.display)
    }

    fn fs_failure(&self, action: &str, name: &str, error: FsError) -> Failure {
        error.failure(action, &format!("{name} in {}", self.dir_display()))
    }

    /// The destination's directory, as the user names it.
    pub fn dir_display(&self) -> String {
        let dir = self.display.rsplit_once('/').map_or(".", |(d, _)| d);
        format!("{dir}/")
    }

    pub fn fs_error(&self, action: &str, name: &str, code: ErrorCode) -> Failure {
        self.fs_failure(action, name, FsError::Code(code))
    }
}

impl Drop for OutputDir {
    fn drop(&mut self) {
        if let Some(key) = self.lease.take() {
            lease::release(key);
        }
    }
}

thread_local! {
    /// The runtime's preopens, asked for once: they stay the same for the
    /// whole run, and a batch looks a path up for every file.
    static PREOPENS: Vec<(Rc<Descriptor>, String)> = get_directories()
        .into_iter()
        .map(|(dir, guest)| (Rc::new(dir), guest))
        .collect();
}

fn preopens() -> Vec<(Rc<Descriptor>, String)> {
    PREOPENS.with(|dirs| {
        dirs.iter()
            .map(|(d, g)| (Rc::clone(d), g.clone()))
            .collect()
    })
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

    /// Sets the file's modification time (Unix seconds), as wget does with
    /// the server's Last-Modified. Only a hint: a runtime that refuses
    /// leaves the time as it is.
    pub fn set_mtime(&self, unix_seconds: u64) {
        let when = NewTimestamp::Timestamp(Datetime {
            seconds: unix_seconds,
            nanoseconds: 0,
        });
        let _ = self.file.set_times(NewTimestamp::NoChange, when);
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
