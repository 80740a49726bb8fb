//! The `wasi:filesystem` host a skill gets: wasmtime-wasi's implementation
//! (paths confined to each preopen, read-only mounts enforced) behind one
//! guard that adds what a hostile skill needs refused:
//!
//! - the preopens are the directories opened as granted (see
//!   [`super::open`]), never reopened by path during the call;
//! - only regular files and directories can be opened, and the open never
//!   blocks ([`super::guest_open`]): a FIFO, socket or device would pin a
//!   host thread in `open` (or worse);
//! - at most [`descriptors::PER_CALL`] files open at once;
//! - writes and creations spend the call's disk budget ([`super::quota`]);
//! - every refusal by the filesystem layer (a path that leads outside the
//!   grant, a write to a read-only mount) is an audit event. A path under
//!   no granted directory at all never reaches the host: the guest's own
//!   libc finds no preopen for it and fails before any host call, so that
//!   attempt cannot be seen.

use super::guest_open::{self, OpenRefused};
use super::quota::{DiskBudget, QuotaExceeded, QuotaStream};
use crate::audit::{Audit, Capability};
use crate::capabilities::descriptors::Descriptors;
use std::sync::Arc;
use wasmtime::component::{HasData, Resource};
use wasmtime_wasi::filesystem::{Descriptor, Dir, WasiFilesystemCtxView};
use wasmtime_wasi::p2::bindings::filesystem::types::{
    ErrorCode, HostDescriptor, HostDirectoryEntryStream,
};
use wasmtime_wasi::p2::bindings::filesystem::{preopens, types};
use wasmtime_wasi::p2::{DynInputStream, DynOutputStream, FsError, FsResult};

/// Most directory listings one call may hold at once.
pub const MAX_LISTINGS: usize = 64;

/// The filesystem side of one call.
pub struct FsGuard {
    pub(crate) preopens: Vec<(Dir, String)>,
    /// Directory listings held (each is a whole directory in host memory).
    listings: usize,
    pub(crate) disk: Arc<DiskBudget>,
    pub(crate) descriptors: Arc<Descriptors>,
    audit: Audit,
}

impl FsGuard {
    /// A guard serving `preopens`, spending `disk` and counting into
    /// `descriptors`.
    pub fn new(
        preopens: Vec<(Dir, String)>,
        disk: Arc<DiskBudget>,
        descriptors: Arc<Descriptors>,
        audit: Audit,
    ) -> Self {
        FsGuard {
            preopens,
            listings: 0,
            disk,
            descriptors,
            audit,
        }
    }
}

/// [`HasData`] marker linking the guard into the linker.
pub struct GuardedFs;

impl HasData for GuardedFs {
    type Data<'a> = FsView<'a>;
}

/// The guard with wasmtime's view of the call's resources.
pub struct FsView<'a> {
    /// wasmtime-wasi's implementation, over the call's resource table.
    pub inner: WasiFilesystemCtxView<'a>,
    /// What the guard adds.
    pub guard: &'a mut FsGuard,
}

fn borrow(fd: &Resource<types::Descriptor>) -> Resource<types::Descriptor> {
    Resource::new_borrow(fd.rep())
}

fn quota(_: QuotaExceeded) -> FsError {
    ErrorCode::Quota.into()
}

impl FsView<'_> {
    fn shown(path: &str) -> String {
        crate::text::cap(path, 256).into_owned()
    }

    fn writable_file(&mut self, fd: &Resource<types::Descriptor>) -> bool {
        matches!(
            self.inner.table.get(fd),
            Ok(Descriptor::File(f)) if !f.perms.write_not_permitted()
        )
    }

    fn writable_dir(&mut self, fd: &Resource<types::Descriptor>) -> bool {
        matches!(
            self.inner.table.get(fd),
            Ok(Descriptor::Dir(d)) if !d.perms.write_not_permitted()
        )
    }

    /// Audit a refusal by the filesystem layer (outside the grant, a
    /// read-only mount, not permitted) of `op` on `path`; pass the result on.
    fn audited<T>(&self, op: &str, path: &str, result: FsResult<T>) -> FsResult<T> {
        if let Err(e) = &result {
            let why = match e.downcast_ref() {
                Some(ErrorCode::NotPermitted) => {
                    "not permitted: the path leads outside the granted directories, or the grant is read-only"
                }
                Some(ErrorCode::Access) => "access denied",
                Some(ErrorCode::ReadOnly) => "the directory is granted read-only",
                _ => return result,
            };
            self.guard.audit.deny(
                Capability::Fs,
                format!("{op} {}", Self::shown(path)),
                why.to_string(),
                None,
            );
        }
        result
    }

    /// Spend one creation when `fd` is a writable directory; whether it was.
    fn charge_create(&mut self, fd: &Resource<types::Descriptor>) -> FsResult<bool> {
        if !self.writable_dir(fd) {
            return Ok(false);
        }
        self.guard.disk.create().map_err(quota)?;
        Ok(true)
    }

    fn refund_if_failed<T>(&self, charged: bool, result: &FsResult<T>) {
        if charged && result.is_err() {
            self.guard.disk.refund_create();
        }
    }

    fn refuse_descriptor(&self, path: &str, why: String) -> FsError {
        self.guard.audit.deny(
            Capability::Limit,
            format!("open {}", Self::shown(path)),
            why,
            Some("close files the skill no longer needs".into()),
        );
        ErrorCode::InsufficientMemory.into()
    }
}

impl preopens::Host for FsView<'_> {
    fn get_directories(&mut self) -> wasmtime::Result<Vec<(Resource<Descriptor>, String)>> {
        let mut out = Vec::with_capacity(self.guard.preopens.len());
        for (dir, name) in &self.guard.preopens {
            out.push((
                self.inner.table.push(Descriptor::Dir(dir.clone()))?,
                name.clone(),
            ));
        }
        Ok(out)
    }
}

impl types::Host for FsView<'_> {
    fn convert_error_code(&mut self, err: FsError) -> wasmtime::Result<ErrorCode> {
        types::Host::convert_error_code(&mut self.inner, err)
    }

    fn filesystem_error_code(
        &mut self,
        err: Resource<wasmtime::Error>,
    ) -> wasmtime::Result<Option<ErrorCode>> {
        if self
            .inner
            .table
            .get(&err)?
            .downcast_ref::<QuotaExceeded>()
            .is_some()
        {
            return Ok(Some(ErrorCode::Quota));
        }
        types::Host::filesystem_error_code(&mut self.inner, err)
    }
}

impl HostDescriptor for FsView<'_> {
    async fn advise(
        &mut self,
        fd: Resource<types::Descriptor>,
        offset: types::Filesize,
        len: types::Filesize,
        advice: types::Advice,
    ) -> FsResult<()> {
        HostDescriptor::advise(&mut self.inner, fd, offset, len, advice).await
    }

    async fn sync_data(&mut self, fd: Resource<types::Descriptor>) -> FsResult<()> {
        HostDescriptor::sync_data(&mut self.inner, fd).await
    }

    async fn get_flags(
        &mut self,
        fd: Resource<types::Descriptor>,
    ) -> FsResult<types::DescriptorFlags> {
        HostDescriptor::get_flags(&mut self.inner, fd).await
    }

    async fn get_type(
        &mut self,
        fd: Resource<types::Descriptor>,
    ) -> FsResult<types::DescriptorType> {
        HostDescriptor::get_type(&mut self.inner, fd).await
    }

    async fn set_size(
        &mut self,
        fd: Resource<types::Descriptor>,
        size: types::Filesize,
    ) -> FsResult<()> {
        if self.writable_file(&fd) {
            let now = HostDescriptor::stat(&mut self.inner, borrow(&fd))
                .await?
                .size;
            if size > now {
                self.guard.disk.write(size - now).map_err(quota)?;
            }
        }
        let result = HostDescriptor::set_size(&mut self.inner, fd, size).await;
        self.audited("resize", "a file", result)
    }

    async fn set_times(
        &mut self,
        fd: Resource<types::Descriptor>,
        atim: types::NewTimestamp,
        mtim: types::NewTimestamp,
    ) -> FsResult<()> {
        HostDescriptor::set_times(&mut self.inner, fd, atim, mtim).await
    }

    async fn read(
        &mut self,
        fd: Resource<types::Descriptor>,
        len: types::Filesize,
        offset: types::Filesize,
    ) -> FsResult<(Vec<u8>, bool)> {
        HostDescriptor::read(&mut self.inner, fd, len, offset).await
    }

    async fn write(
        &mut self,
        fd: Resource<types::Descriptor>,
        buf: Vec<u8>,
        offset: types::Filesize,
    ) -> FsResult<types::Filesize> {
        let charged = buf.len() as u64;
        let writable = self.writable_file(&fd);
        if writable {
            self.guard.disk.write(charged).map_err(quota)?;
        }
        let result = HostDescriptor::write(&mut self.inner, fd, buf, offset).await;
        let result = self.audited("write", "a file", result);
        match &result {
            Ok(n) if writable => self.guard.disk.refund_write(charged.saturating_sub(*n)),
            Err(_) if writable => self.guard.disk.refund_write(charged),
            _ => {}
        }
        result
    }

    async fn read_directory(
        &mut self,
        fd: Resource<types::Descriptor>,
    ) -> FsResult<Resource<types::DirectoryEntryStream>> {
        // wasmtime reads a whole directory into host memory per listing:
        // only a few listings may be held at once.
        if self.guard.listings >= MAX_LISTINGS {
            self.guard.audit.deny(
                Capability::Limit,
                "read directory",
                format!("the call already holds {MAX_LISTINGS} open directory listings"),
                Some("drop listings the skill has read".into()),
            );
            self.guard.descriptors.note_refusal();
            return Err(ErrorCode::InsufficientMemory.into());
        }
        let stream = HostDescriptor::read_directory(&mut self.inner, fd).await?;
        self.guard.listings += 1;
        Ok(stream)
    }

    async fn sync(&mut self, fd: Resource<types::Descriptor>) -> FsResult<()> {
        HostDescriptor::sync(&mut self.inner, fd).await
    }

    async fn create_directory_at(
        &mut self,
        fd: Resource<types::Descriptor>,
        path: String,
    ) -> FsResult<()> {
        let charged = self.charge_create(&fd)?;
        let shown = path.clone();
        let result = {
            let r = HostDescriptor::create_directory_at(&mut self.inner, fd, path).await;
            self.audited("mkdir", &shown, r)
        };
        self.refund_if_failed(charged, &result);
        result
    }

    async fn stat(&mut self, fd: Resource<types::Descriptor>) -> FsResult<types::DescriptorStat> {
        HostDescriptor::stat(&mut self.inner, fd).await
    }

    async fn stat_at(
        &mut self,
        fd: Resource<types::Descriptor>,
        path_flags: types::PathFlags,
        path: String,
    ) -> FsResult<types::DescriptorStat> {
        let shown = path.clone();
        {
            let r = HostDescriptor::stat_at(&mut self.inner, fd, path_flags, path).await;
            self.audited("stat", &shown, r)
        }
    }

    async fn set_times_at(
        &mut self,
        fd: Resource<types::Descriptor>,
        path_flags: types::PathFlags,
        path: String,
        atim: types::NewTimestamp,
        mtim: types::NewTimestamp,
    ) -> FsResult<()> {
        let shown = path.clone();
        {
            let r = HostDescriptor::set_times_at(&mut self.inner, fd, path_flags, path, atim, mtim)
                .await;
            self.audited("set times of", &shown, r)
        }
    }

    async fn link_at(
        &mut self,
        fd: Resource<types::Descriptor>,
        old_path_flags: types::PathFlags,
        old_path: String,
        new_descriptor: Resource<types::Descriptor>,
        new_path: String,
    ) -> FsResult<()> {
        let charged = self.charge_create(&new_descriptor)?;
        let shown = format!("{old_path} -> {new_path}");
        let result = HostDescriptor::link_at(
            &mut self.inner,
            fd,
            old_path_flags,
            old_path,
            new_descriptor,
            new_path,
        )
        .await;
        self.refund_if_failed(charged, &result);
        self.audited("link", &shown, result)
    }

    async fn open_at(
        &mut self,
        fd: Resource<types::Descriptor>,
        path_flags: types::PathFlags,
        path: String,
        oflags: types::OpenFlags,
        flags: types::DescriptorFlags,
    ) -> FsResult<Resource<types::Descriptor>> {
        let dir = match self.inner.table.get(&fd)? {
            Descriptor::Dir(d) => d.clone(),
            Descriptor::File(_) => return Err(ErrorCode::NotDirectory.into()),
        };
        if let Err(refusal) = self.guard.descriptors.check_file() {
            return Err(self.refuse_descriptor(&path, refusal.to_string()));
        }
        let mut charged = false;
        if oflags.contains(types::OpenFlags::CREATE) && !dir.perms.write_not_permitted() {
            let exists =
                HostDescriptor::stat_at(&mut self.inner, borrow(&fd), path_flags, path.clone())
                    .await
                    .is_ok();
            if !exists {
                self.guard.disk.create().map_err(quota)?;
                charged = true;
            }
        }
        let shown = Self::shown(&path);
        let opened = wasmtime_wasi::runtime::spawn_blocking(move || {
            guest_open::open(&dir, &path, path_flags, oflags, flags)
        })
        .await;
        if charged && opened.is_err() {
            self.guard.disk.refund_create();
        }
        let descriptor = match opened {
            Ok(d) => d,
            Err(OpenRefused::Code(code)) => return self.audited("open", &shown, Err(code.into())),
            Err(OpenRefused::Io(e)) => return self.audited("open", &shown, Err(e.into())),
            Err(OpenRefused::Special(what)) => {
                self.guard.audit.deny(
                    Capability::Fs,
                    format!("open {shown}"),
                    format!(
                        "it is {what}; only regular files and directories can be opened (opening it could block the host)"
                    ),
                    None,
                );
                return Err(ErrorCode::Access.into());
            }
        };
        match &descriptor {
            Descriptor::File(f) => self.guard.descriptors.opened(&f.file),
            Descriptor::Dir(d) => self.guard.descriptors.opened(&d.dir),
        }
        Ok(self.inner.table.push(descriptor)?)
    }

    fn drop(&mut self, fd: Resource<types::Descriptor>) -> wasmtime::Result<()> {
        HostDescriptor::drop(&mut self.inner, fd)
    }

    async fn readlink_at(
        &mut self,
        fd: Resource<types::Descriptor>,
        path: String,
    ) -> FsResult<String> {
        let shown = path.clone();
        {
            let r = HostDescriptor::readlink_at(&mut self.inner, fd, path).await;
            self.audited("readlink", &shown, r)
        }
    }

    async fn remove_directory_at(
        &mut self,
        fd: Resource<types::Descriptor>,
        path: String,
    ) -> FsResult<()> {
        let shown = path.clone();
        {
            let r = HostDescriptor::remove_directory_at(&mut self.inner, fd, path).await;
            self.audited("rmdir", &shown, r)
        }
    }

    async fn rename_at(
        &mut self,
        fd: Resource<types::Descriptor>,
        old_path: String,
        new_fd: Resource<types::Descriptor>,
        new_path: String,
    ) -> FsResult<()> {
        let shown = format!("{old_path} -> {new_path}");
        let result =
            HostDescriptor::rename_at(&mut self.inner, fd, old_path, new_fd, new_path).await;
        self.audited("rename", &shown, result)
    }

    async fn symlink_at(
        &mut self,
        fd: Resource<types::Descriptor>,
        src_path: String,
        dest_path: String,
    ) -> FsResult<()> {
        let charged = self.charge_create(&fd)?;
        let shown = dest_path.clone();
        let result = HostDescriptor::symlink_at(&mut self.inner, fd, src_path, dest_path).await;
        let result = self.audited("symlink", &shown, result);
        self.refund_if_failed(charged, &result);
        result
    }

    async fn unlink_file_at(
        &mut self,
        fd: Resource<types::Descriptor>,
        path: String,
    ) -> FsResult<()> {
        let shown = path.clone();
        {
            let r = HostDescriptor::unlink_file_at(&mut self.inner, fd, path).await;
            self.audited("unlink", &shown, r)
        }
    }

    fn read_via_stream(
        &mut self,
        fd: Resource<types::Descriptor>,
        offset: types::Filesize,
    ) -> FsResult<Resource<DynInputStream>> {
        HostDescriptor::read_via_stream(&mut self.inner, fd, offset)
    }

    fn write_via_stream(
        &mut self,
        fd: Resource<types::Descriptor>,
        offset: types::Filesize,
    ) -> FsResult<Resource<DynOutputStream>> {
        let stream = HostDescriptor::write_via_stream(&mut self.inner, fd, offset);
        let stream = self.audited("write", "a file", stream)?;
        self.metered(stream)
    }

    fn append_via_stream(
        &mut self,
        fd: Resource<types::Descriptor>,
    ) -> FsResult<Resource<DynOutputStream>> {
        let stream = HostDescriptor::append_via_stream(&mut self.inner, fd);
        let stream = self.audited("append to", "a file", stream)?;
        self.metered(stream)
    }

    async fn is_same_object(
        &mut self,
        a: Resource<types::Descriptor>,
        b: Resource<types::Descriptor>,
    ) -> wasmtime::Result<bool> {
        HostDescriptor::is_same_object(&mut self.inner, a, b).await
    }

    async fn metadata_hash(
        &mut self,
        fd: Resource<types::Descriptor>,
    ) -> FsResult<types::MetadataHashValue> {
        HostDescriptor::metadata_hash(&mut self.inner, fd).await
    }

    async fn metadata_hash_at(
        &mut self,
        fd: Resource<types::Descriptor>,
        path_flags: types::PathFlags,
        path: String,
    ) -> FsResult<types::MetadataHashValue> {
        let shown = path.clone();
        {
            let r = HostDescriptor::metadata_hash_at(&mut self.inner, fd, path_flags, path).await;
            self.audited("stat", &shown, r)
        }
    }
}

impl FsView<'_> {
    /// Replace a new file output stream by one that spends the budget.
    fn metered(
        &mut self,
        stream: Resource<DynOutputStream>,
    ) -> FsResult<Resource<DynOutputStream>> {
        let inner: DynOutputStream = self.inner.table.delete(stream)?;
        let wrapped: DynOutputStream = Box::new(QuotaStream::new(inner, self.guard.disk.clone()));
        Ok(self.inner.table.push(wrapped)?)
    }
}

impl HostDirectoryEntryStream for FsView<'_> {
    async fn read_directory_entry(
        &mut self,
        stream: Resource<types::DirectoryEntryStream>,
    ) -> FsResult<Option<types::DirectoryEntry>> {
        HostDirectoryEntryStream::read_directory_entry(&mut self.inner, stream).await
    }

    fn drop(&mut self, stream: Resource<types::DirectoryEntryStream>) -> wasmtime::Result<()> {
        self.guard.listings = self.guard.listings.saturating_sub(1);
        HostDirectoryEntryStream::drop(&mut self.inner, stream)
    }
}
