//! The directories a WASI host preopened for the module (Fluent Bit:
//! `Accessible_Paths`, in order), and the configuration file in them.

/// The configuration file the module looks for in each preopened directory.
pub(crate) const CONFIG_FILE_NAME: &str = "log-transform.json";

/// WASI's `prestat`: a tag (0: directory) and the directory name's length.
#[repr(C)]
struct Prestat {
    tag: u8,
    name_len: u32,
}

#[link(wasm_import_module = "wasi_snapshot_preview1")]
extern "C" {
    fn fd_prestat_get(fd: u32, buf: *mut Prestat) -> u16;
    fn fd_prestat_dir_name(fd: u32, path: *mut u8, len: u32) -> u16;
}

/// Preopened descriptors start after stdio and are numbered without gaps;
/// the first one the host does not know ends the list.
const FIRST_PREOPEN: u32 = 3;
/// A bound so that a host answering every descriptor cannot loop us forever.
const MAX_PREOPENS: u32 = 256;

/// The preopened directories' names, in descriptor order.
pub(crate) fn directories() -> Vec<String> {
    let mut dirs = Vec::new();
    for fd in FIRST_PREOPEN..FIRST_PREOPEN + MAX_PREOPENS {
        let mut prestat = Prestat {
            tag: u8::MAX,
            name_len: 0,
        };
        // SAFETY: `prestat` is a valid, writable `prestat` for the call.
        if unsafe { fd_prestat_get(fd, &mut prestat) } != 0 {
            break;
        }
        if prestat.tag != 0 {
            continue;
        }
        let mut name = vec![0u8; prestat.name_len as usize];
        // SAFETY: `name` has exactly `name_len` writable bytes.
        if unsafe { fd_prestat_dir_name(fd, name.as_mut_ptr(), prestat.name_len) } != 0 {
            continue;
        }
        // Some hosts count a trailing NUL in the length.
        while name.last() == Some(&0) {
            name.pop();
        }
        if let Ok(name) = String::from_utf8(name) {
            dirs.push(name);
        }
    }
    dirs
}

/// `name` in the first of `dirs` that has it: its path and its bytes, or the
/// error reading a file that is there but unreadable.
pub(crate) fn find_file(
    dirs: &[String],
    name: &str,
) -> Option<(String, Result<Vec<u8>, std::io::Error>)> {
    dirs.iter().find_map(|dir| {
        let path = format!("{}/{name}", dir.trim_end_matches('/'));
        match std::fs::read(&path) {
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
            read => Some((path, read)),
        }
    })
}
