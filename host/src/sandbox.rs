//! The component's only capability on disk: the directory of the output
//! file, or the one device or FIFO it writes into.

use std::path::PathBuf;

use anyhow::{bail, Context, Result};
use rangeget_core::naming::file_name_from_url;
use rangeget_core::paths::meta_path;
use rangeget_options::{Options, STDIN_LIST};

/// How the output path is exposed to the component.
#[derive(Debug, PartialEq, Eq)]
pub struct OutputMapping {
    /// The host directory preopened for the component, read-write.
    pub host_dir: PathBuf,
    /// The name the component sees for it. It is the same text as the host
    /// path, so the component's messages name the paths the user typed.
    pub guest_dir: String,
    /// The `-o` value handed to the component.
    pub guest_path: String,
    /// The directory of `-i FILE`, granted read-only when it is not the
    /// output directory: (host path, guest name).
    pub input_dir: Option<(PathBuf, String)>,
    /// `-i -`: the list comes on standard input, which is then granted.
    pub list_on_stdin: bool,
}

/// Where the component's output goes.
pub enum Output {
    /// `-o -`: stdout, and no directory at all.
    Stdout,
    /// `-o` names a character device or a FIFO (`/dev/null`, a named pipe,
    /// `>(cmd)`): opened here and handed to the component as its stdout,
    /// which streams into it in order. Never a directory: a device has no
    /// `.part`, and wasmtime's files write at offsets, which a FIFO lacks.
    Device(std::fs::File),
    Directory(OutputMapping),
}

impl Output {
    pub fn directory(&self) -> Option<&OutputMapping> {
        match self {
            Output::Directory(mapping) => Some(mapping),
            Output::Stdout | Output::Device(_) => None,
        }
    }
}

/// Decides the one directory (or device) the component may use and
/// rewrites the options to name it as the component sees it.
///
/// With `-o`, that is the file's directory. Without it the component picks
/// the name (from Content-Disposition or the URL), so it gets `-d DIR`
/// (default `.`) and chooses inside it.
pub fn grant_output(options: &mut Options) -> Result<Output> {
    if options.to_stdout() {
        options.dir = None;
        return Ok(Output::Stdout);
    }
    if let Some(device) = device_output(options)? {
        return Ok(device);
    }
    grant_directory(options).map(Output::Directory)
}

/// A single download whose `-o` names a character device or a FIFO (links
/// followed, as `/dev/stdout` and `/dev/fd/N` are): opened for writing,
/// never created or truncated, and never replaced, `--force` or not.
fn device_output(options: &mut Options) -> Result<Option<Output>> {
    use std::os::unix::fs::FileTypeExt;
    if options.is_batch() {
        return Ok(None);
    }
    if options.output.is_none() {
        return Ok(None);
    }
    let path = options.output_path("");
    let Ok(kind) = std::fs::metadata(&path).map(|m| m.file_type()) else {
        return Ok(None);
    };
    if !(kind.is_char_device() || kind.is_fifo()) {
        return Ok(None);
    }
    // A FIFO's open waits for a reader, as curl's does.
    let device = std::fs::OpenOptions::new()
        .write(true)
        .open(&path)
        .with_context(|| format!("cannot open {path} for writing"))?;
    options.output = Some("-".to_string());
    options.dir = None;
    options.stdout_is = Some(path);
    Ok(Some(Output::Device(device)))
}

fn grant_directory(options: &mut Options) -> Result<OutputMapping> {
    let url_name = file_name_from_url(&options.url);
    if options.output.is_some() {
        let path = options.output_path(&url_name);
        let mapping = map_output(&path, &url_name)?;
        options.output = Some(mapping.guest_path.clone());
        options.dir = None;
        return Ok(mapping);
    }
    let dir = options.dir.clone().unwrap_or_else(|| ".".to_string());
    let host_dir = PathBuf::from(&dir);
    // As aria2c and wget -P do: the directory named to save in is made.
    if !host_dir.is_dir() {
        std::fs::create_dir_all(&host_dir)
            .with_context(|| format!("cannot create the output directory {dir}"))?;
    }
    options.dir = Some(dir.clone());
    // An -i list or a metalink: read through a read-only grant of its
    // directory, or from standard input.
    let list = options.input_file.as_ref().or(options.metalink.as_ref());
    let list_on_stdin = list.map(String::as_str) == Some(STDIN_LIST);
    let input_dir = match list {
        Some(file) if !list_on_stdin => input_directory(file, &host_dir)?,
        _ => None,
    };
    Ok(OutputMapping {
        guest_path: join_guest(&dir, &url_name),
        host_dir,
        guest_dir: dir,
        input_dir,
        list_on_stdin,
    })
}

/// The directory holding the input file, unless it is the output directory
/// (already granted read-write). The guest name is the host path text, so
/// `-i` needs no rewriting.
fn input_directory(file: &str, output_dir: &std::path::Path) -> Result<Option<(PathBuf, String)>> {
    let path = std::path::Path::new(file);
    if !path.is_file() {
        bail!("the input file {file} does not exist");
    }
    let parent = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let same = parent.canonicalize().ok() == output_dir.canonicalize().ok();
    if same {
        return Ok(None);
    }
    let guest = parent
        .to_str()
        .with_context(|| format!("{} is not valid UTF-8", parent.display()))?
        .to_string();
    Ok(Some((parent, guest)))
}

/// A directory granted beside the output: (host path, guest name — the
/// host path's text, so options need no rewriting — and whether the
/// component may write there).
pub type Grant = (PathBuf, String, bool);

/// The directories of `--load-cookies` (read-only) and `--save-cookies`
/// (read-write) files, unless the output directory holds them already.
pub fn cookie_dirs(options: &Options, output: Option<&OutputMapping>) -> Result<Vec<Grant>> {
    let mut grants: Vec<Grant> = Vec::new();
    let files = [
        (&options.load_cookies, false),
        (&options.save_cookies, true),
    ];
    for (file, write) in files {
        let Some(file) = file else { continue };
        let path = std::path::Path::new(file);
        if !write && !path.is_file() {
            bail!("the cookie file {file} does not exist");
        }
        let parent = match path.parent() {
            Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
            _ => PathBuf::from("."),
        };
        let canonical = parent
            .canonicalize()
            .with_context(|| format!("cannot reach {}", parent.display()))?;
        if output.is_some_and(|o| o.host_dir.canonicalize().ok().as_ref() == Some(&canonical)) {
            continue;
        }
        match grants
            .iter_mut()
            .find(|(host, ..)| host.canonicalize().ok().as_ref() == Some(&canonical))
        {
            Some(grant) => grant.2 |= write,
            None => {
                let guest = parent
                    .to_str()
                    .with_context(|| format!("{} is not valid UTF-8", parent.display()))?;
                grants.push((parent.clone(), guest.to_string(), write));
            }
        }
    }
    Ok(grants)
}

/// Maps `output` (a file path, or an existing directory to save `default_name` in).
pub fn map_output(output: &str, default_name: &str) -> Result<OutputMapping> {
    let mut path = PathBuf::from(output);
    if output.ends_with('/') || path.is_dir() {
        path.push(default_name);
    }
    let file_name = path
        .file_name()
        .and_then(|n| n.to_str())
        .with_context(|| format!("'{output}' does not name a file"))?
        .to_string();
    let parent = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    if !parent.is_dir() {
        bail!(
            "the output directory {} does not exist; create it first (mkdir -p {})",
            parent.display(),
            parent.display()
        );
    }
    let guest_dir = parent
        .to_str()
        .with_context(|| {
            format!(
                "the output directory {} is not valid UTF-8",
                parent.display()
            )
        })?
        .to_string();
    let guest_path = join_guest(&guest_dir, &file_name);
    Ok(OutputMapping {
        host_dir: parent,
        guest_dir,
        guest_path,
        input_dir: None,
        list_on_stdin: false,
    })
}

impl OutputMapping {
    /// Where the component keeps its meta file, as the host sees it.
    pub fn host_meta_path(&self) -> PathBuf {
        let name = self
            .guest_path
            .rsplit('/')
            .next()
            .unwrap_or(&self.guest_path);
        self.host_dir.join(meta_path(name))
    }
}

fn join_guest(dir: &str, name: &str) -> String {
    if dir == "." {
        name.to_string()
    } else if dir.ends_with('/') {
        format!("{dir}{name}")
    } else {
        format!("{dir}/{name}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_names_map_to_the_current_directory() {
        let m = map_output("file.bin", "x").unwrap();
        assert_eq!(
            (m.guest_dir.as_str(), m.guest_path.as_str()),
            (".", "file.bin")
        );
    }

    #[test]
    fn directories_receive_the_default_name() {
        let dir = std::env::temp_dir();
        let m = map_output(dir.to_str().unwrap(), "name.iso").unwrap();
        assert_eq!(m.host_dir, dir);
        assert!(m.guest_path.ends_with("/name.iso"));
    }

    #[test]
    fn a_missing_directory_is_a_clear_error() {
        let err = map_output("/definitely/not/here/file", "x").unwrap_err();
        assert!(err.to_string().contains("does not exist"), "{err}");
    }
}
