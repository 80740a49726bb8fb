//! `open-at` for the guest: wasmtime-wasi's semantics (the same flag
//! mapping and permission checks, and cap-primitives' confinement of the
//! path to the directory), except that the open itself never blocks: it is
//! made with `O_NONBLOCK`, anything that is not a regular file or a
//! directory (a FIFO, socket or device) is closed and refused, and the flag
//! is cleared again before the guest gets the file. Looking first and
//! opening after would leave a window in which a FIFO can be renamed into
//! place; opening without blocking leaves none.

use cap_primitives::fs::{FollowSymlinks, OpenOptions};
use std::io;
use wasmtime_wasi::filesystem::{Descriptor, Dir, File};
use wasmtime_wasi::p2::bindings::filesystem::types::{
    DescriptorFlags, ErrorCode, OpenFlags, PathFlags,
};
use wasmtime_wasi::{FsPerms, OpenMode};

/// Why the open was refused before or after the OS had its say.
#[derive(Debug)]
pub enum OpenRefused {
    /// The guest asked for something invalid or not permitted.
    Code(ErrorCode),
    /// The path names a FIFO, socket or device (what it is, in words).
    Special(&'static str),
    /// The OS refused.
    Io(io::Error),
}

/// The options wasmtime-wasi would use for these flags, and the mode the
/// descriptor records; refuses what wasmtime-wasi refuses.
fn options(
    perms: FsPerms,
    path_flags: PathFlags,
    oflags: OpenFlags,
    flags: DescriptorFlags,
) -> Result<(OpenOptions, OpenMode), ErrorCode> {
    let mut opts = OpenOptions::new();
    let mut mode = OpenMode::empty();
    let create = oflags.contains(OpenFlags::CREATE);
    if create {
        if oflags.contains(OpenFlags::EXCLUSIVE) {
            opts.create_new(true);
        } else {
            opts.create(true);
        }
        opts.write(true);
        mode |= OpenMode::WRITE;
    }
    if oflags.contains(OpenFlags::TRUNCATE) {
        opts.truncate(true).write(true);
        mode |= OpenMode::WRITE;
    }
    if flags.contains(DescriptorFlags::READ) {
        opts.read(true);
        mode |= OpenMode::READ;
    }
    if flags.contains(DescriptorFlags::WRITE) {
        opts.write(true);
        mode |= OpenMode::WRITE;
    } else {
        // Open for reading so the OS lets us; perms refuse writes later.
        opts.read(true);
        mode |= OpenMode::READ;
    }
    opts._cap_fs_ext_follow(if path_flags.contains(PathFlags::SYMLINK_FOLLOW) {
        FollowSymlinks::Yes
    } else {
        FollowSymlinks::No
    });
    if flags.intersects(
        DescriptorFlags::FILE_INTEGRITY_SYNC
            | DescriptorFlags::DATA_INTEGRITY_SYNC
            | DescriptorFlags::REQUESTED_WRITE_SYNC,
    ) {
        return Err(ErrorCode::Unsupported);
    }
    if oflags.contains(OpenFlags::DIRECTORY)
        && oflags.intersects(OpenFlags::CREATE | OpenFlags::EXCLUSIVE | OpenFlags::TRUNCATE)
    {
        return Err(ErrorCode::Invalid);
    }
    if perms.write_not_permitted() && (create || mode.contains(OpenMode::WRITE)) {
        return Err(ErrorCode::NotPermitted);
    }
    opts._cap_fs_ext_nonblock(true);
    Ok((opts, mode))
}

/// Open `path` under `dir` for the guest (blocking I/O: run it off the
/// executor). Only regular files and directories come back.
pub fn open(
    dir: &Dir,
    path: &str,
    path_flags: PathFlags,
    oflags: OpenFlags,
    flags: DescriptorFlags,
) -> Result<Descriptor, OpenRefused> {
    let (opts, mode) = options(dir.perms, path_flags, oflags, flags).map_err(OpenRefused::Code)?;
    let file = cap_primitives::fs::open(&dir.dir, path.as_ref(), &opts).map_err(|e| {
        // A non-blocking write open of a FIFO without a reader (or a device
        // with nothing behind it) says so with ENXIO.
        #[cfg(unix)]
        if rustix::io::Errno::from_io_error(&e) == Some(rustix::io::Errno::NXIO) {
            return OpenRefused::Special("a FIFO or device");
        }
        OpenRefused::Io(e)
    })?;
    let meta = file.metadata().map_err(OpenRefused::Io)?;
    let kind = meta.file_type();
    if !kind.is_file() && !kind.is_dir() {
        return Err(OpenRefused::Special(special(&kind)));
    }
    clear_nonblock(&file).map_err(OpenRefused::Io)?;
    if kind.is_dir() {
        Ok(Descriptor::Dir(Dir::new(file, dir.perms, mode, false)))
    } else if oflags.contains(OpenFlags::DIRECTORY) {
        Err(OpenRefused::Code(ErrorCode::NotDirectory))
    } else {
        Ok(Descriptor::File(File::new(file, dir.perms, mode, false)))
    }
}

fn special(kind: &std::fs::FileType) -> &'static str {
    #[cfg(unix)]
    {
        use std::os::unix::fs::FileTypeExt;
        if kind.is_fifo() {
            return "a FIFO (named pipe)";
        } else if kind.is_socket() {
            return "a socket";
        } else if kind.is_char_device() {
            return "a character device";
        } else if kind.is_block_device() {
            return "a block device";
        }
    }
    let _ = kind;
    "a special file"
}

#[cfg(unix)]
fn clear_nonblock(file: &std::fs::File) -> io::Result<()> {
    use rustix::fs::{OFlags, fcntl_getfl, fcntl_setfl};
    let flags = fcntl_getfl(file)?;
    fcntl_setfl(file, flags - OFlags::NONBLOCK)?;
    Ok(())
}

#[cfg(not(unix))]
fn clear_nonblock(_file: &std::fs::File) -> io::Result<()> {
    Ok(())
}

#[cfg(all(test, unix))]
mod tests {
    use super::*;

    fn dir(path: &std::path::Path, perms: FsPerms) -> Dir {
        let f = std::fs::File::open(path);
        assert!(f.is_ok(), "{f:?}");
        let Ok(f) = f else { unreachable!() };
        Dir::new(f, perms, OpenMode::READ | OpenMode::WRITE, false)
    }

    #[test]
    fn opens_like_wasi_and_refuses_fifos_without_blocking() {
        let tmp = tempfile::tempdir().unwrap();
        std::fs::write(tmp.path().join("a.txt"), "a").unwrap();
        std::fs::create_dir(tmp.path().join("sub")).unwrap();
        assert!(
            std::process::Command::new("mkfifo")
                .arg(tmp.path().join("pipe"))
                .status()
                .unwrap()
                .success()
        );
        let rw = dir(tmp.path(), FsPerms::ReadWrite);
        let read = DescriptorFlags::READ;
        let follow = PathFlags::SYMLINK_FOLLOW;
        assert!(matches!(
            open(&rw, "a.txt", follow, OpenFlags::empty(), read),
            Ok(Descriptor::File(_))
        ));
        assert!(matches!(
            open(&rw, "sub", follow, OpenFlags::DIRECTORY, read),
            Ok(Descriptor::Dir(_))
        ));
        assert!(matches!(
            open(&rw, "a.txt", follow, OpenFlags::DIRECTORY, read),
            Err(OpenRefused::Code(ErrorCode::NotDirectory)) | Err(OpenRefused::Io(_))
        ));
        for flags in [read, DescriptorFlags::WRITE] {
            assert!(matches!(
                open(&rw, "pipe", follow, OpenFlags::empty(), flags),
                Err(OpenRefused::Special(_))
            ));
        }
        assert!(matches!(
            open(
                &rw,
                "../escape",
                follow,
                OpenFlags::CREATE,
                DescriptorFlags::WRITE
            ),
            Err(OpenRefused::Io(_))
        ));
        let made = open(
            &rw,
            "new.txt",
            follow,
            OpenFlags::CREATE,
            DescriptorFlags::WRITE,
        );
        assert!(matches!(made, Ok(Descriptor::File(_))));
        assert!(tmp.path().join("new.txt").exists());
        let ro = dir(tmp.path(), FsPerms::ReadOnly);
        assert!(matches!(
            open(
                &ro,
                "x.txt",
                follow,
                OpenFlags::CREATE,
                DescriptorFlags::WRITE
            ),
            Err(OpenRefused::Code(ErrorCode::NotPermitted))
        ));
    }
}
