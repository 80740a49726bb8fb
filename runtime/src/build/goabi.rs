//! `cabi_realloc_adapter` for Go modules. The preview1 adapter allocates
//! its state and stack on the first WASI call, which Go's runtime makes
//! while it is still starting, when no Go export can run (and memory the
//! adapter grew itself would later be handed out by Go's allocator too).
//! So this adds, in plain wasm, a bump allocator over an array the Go SDK
//! reserves (skill-sdk/go/arena.go), found by the marker it starts with.
//!
//! Appending a type, function, global, export and body keeps every
//! existing index, so the rest of the module is copied unchanged.

/// The first bytes of the SDK's `adapterArena` (arena.go).
const ARENA_MARKER: [u8; 16] = [
    0xc4, b'c', b'h', b'i', b't', b'i', b'n', b'-', b'a', b'd', b'a', b'p', b't', b'e', b'r', 0x9e,
];

/// The array's size in arena.go.
const ARENA_BYTES: u32 = 256 << 10;

fn leb(bytes: &[u8], at: &mut usize) -> Result<u32, String> {
    let mut value: u64 = 0;
    for shift in (0..35).step_by(7) {
        let b = *bytes.get(*at).ok_or("truncated module")?;
        *at += 1;
        value |= u64::from(b & 0x7f) << shift;
        if b & 0x80 == 0 {
            return u32::try_from(value).map_err(|_| "LEB128 value out of range".to_string());
        }
    }
    Err("LEB128 value too long".into())
}

fn put_leb(out: &mut Vec<u8>, mut v: u32) {
    loop {
        let b = (v & 0x7f) as u8;
        v >>= 7;
        if v == 0 {
            out.push(b);
            return;
        }
        out.push(b | 0x80);
    }
}

fn put_sleb(out: &mut Vec<u8>, v: i32) {
    let mut v = i64::from(v);
    loop {
        let b = (v & 0x7f) as u8;
        v >>= 7;
        let done = (v == 0 && b & 0x40 == 0) || (v == -1 && b & 0x40 != 0);
        out.push(if done { b } else { b | 0x80 });
        if done {
            return;
        }
    }
}

/// A section's body with one more entry: its count plus one, `entry` last.
fn append_entry(body: &[u8], entry: &[u8]) -> Result<(Vec<u8>, u32), String> {
    let mut at = 0;
    let count = leb(body, &mut at)?;
    let mut out = Vec::with_capacity(body.len() + entry.len() + 5);
    put_leb(&mut out, count + 1);
    out.extend_from_slice(&body[at..]);
    out.extend_from_slice(entry);
    Ok((out, count))
}

/// The address of the arena: where the marker sits in an active data
/// segment (`i32.const` offset), exactly once.
fn find_arena(data: &[u8]) -> Result<u32, String> {
    let mut at = 0;
    let count = leb(data, &mut at)?;
    let mut found = Vec::new();
    for _ in 0..count {
        let flags = leb(data, &mut at)?;
        let base = match flags {
            0 => {
                if data.get(at) != Some(&0x41) {
                    return Err("a data segment offset is not i32.const".into());
                }
                at += 1;
                let mut v: i64 = 0;
                let mut shift = 0;
                loop {
                    let b = *data.get(at).ok_or("truncated module")?;
                    at += 1;
                    v |= i64::from(b & 0x7f) << shift;
                    shift += 7;
                    if b & 0x80 == 0 {
                        if shift < 64 && b & 0x40 != 0 {
                            v |= -1i64 << shift;
                        }
                        break;
                    }
                    if shift > 35 {
                        return Err("data offset too long".into());
                    }
                }
                if data.get(at) != Some(&0x0b) {
                    return Err("a data segment offset is not a constant".into());
                }
                at += 1;
                Some(u32::try_from(v).map_err(|_| "negative data offset")?)
            }
            1 => None,
            _ => return Err(format!("data segment kind {flags} is not expected from Go")),
        };
        let len = leb(data, &mut at)? as usize;
        let bytes = data.get(at..at + len).ok_or("truncated data segment")?;
        at += len;
        if let Some(base) = base {
            let mut from = 0;
            while let Some(i) = bytes[from..]
                .windows(ARENA_MARKER.len())
                .position(|w| w == ARENA_MARKER)
            {
                found.push(base + (from + i) as u32);
                from += i + 1;
            }
        }
    }
    match found.as_slice() {
        [one] => Ok(*one),
        [] => Err(
            "the Go SDK's adapter arena is not in the module (is chitin.dev/skill imported?)"
                .into(),
        ),
        _ => Err("the adapter arena's marker appears more than once".into()),
    }
}

/// The allocator's body: `(old, old_size, align, size) -> ptr` over
/// `[start, start + ARENA_BYTES)` with the bump pointer in global `g`;
/// traps on a reallocation or when the arena is full.
fn realloc_body(g: u32, end: u32) -> Vec<u8> {
    let mut f = vec![0x01, 0x01, 0x7f]; // one local: i32 (the result)
    let mut op = |bytes: &[u8]| f.extend_from_slice(bytes);
    // if old != 0: unreachable
    op(&[0x20, 0x00, 0x04, 0x40, 0x00, 0x0b]);
    // p = (bump + align - 1) & -align
    let mut get_g = vec![0x23];
    put_leb(&mut get_g, g);
    op(&get_g);
    op(&[0x20, 0x02, 0x6a, 0x41, 0x01, 0x6b]); // + align - 1
    op(&[0x41, 0x00, 0x20, 0x02, 0x6b, 0x71]); // & (0 - align)
    op(&[0x21, 0x04]); // local.set p
    // if p + size > end (unsigned): unreachable
    let mut cmp = vec![0x20, 0x04, 0x20, 0x03, 0x6a, 0x41];
    put_sleb(&mut cmp, end as i32);
    cmp.extend_from_slice(&[0x4b, 0x04, 0x40, 0x00, 0x0b]);
    op(&cmp);
    // bump = p + size; return p
    let mut set = vec![0x20, 0x04, 0x20, 0x03, 0x6a, 0x24];
    put_leb(&mut set, g);
    op(&set);
    op(&[0x20, 0x04, 0x0b]);
    let mut out = Vec::new();
    put_leb(&mut out, f.len() as u32);
    out.extend(f);
    out
}

/// `module` with a `cabi_realloc_adapter` export over the SDK's arena.
pub fn add_adapter_realloc(module: &[u8]) -> Result<Vec<u8>, String> {
    if module.get(..8) != Some(b"\0asm\x01\0\0\0".as_slice()) {
        return Err("not a core wasm module".into());
    }
    // First pass: the sections, the imported function count, the arena.
    let mut sections = Vec::new();
    let mut at = 8;
    while at < module.len() {
        let id = module[at];
        at += 1;
        let len = leb(module, &mut at)? as usize;
        let body = module.get(at..at + len).ok_or("truncated section")?;
        sections.push((id, body));
        at += len;
    }
    let find = |id: u8| sections.iter().find(|(i, _)| *i == id).map(|(_, b)| *b);
    let mut imported_funcs = 0;
    if let Some(imports) = find(2) {
        let mut p = 0;
        for _ in 0..leb(imports, &mut p)? {
            for _ in 0..2 {
                let n = leb(imports, &mut p)? as usize;
                p += n;
            }
            let kind = *imports.get(p).ok_or("truncated import")?;
            p += 1;
            match kind {
                0 => {
                    leb(imports, &mut p)?;
                    imported_funcs += 1;
                }
                1 => {
                    p += 1;
                    let flags = leb(imports, &mut p)?;
                    leb(imports, &mut p)?;
                    if flags & 1 != 0 {
                        leb(imports, &mut p)?;
                    }
                }
                2 => {
                    let flags = leb(imports, &mut p)?;
                    leb(imports, &mut p)?;
                    if flags & 1 != 0 {
                        leb(imports, &mut p)?;
                    }
                }
                3 => p += 2,
                _ => return Err(format!("import kind {kind} is not expected from Go")),
            }
        }
    }
    let start = find_arena(find(11).ok_or("the module has no data")?)?;
    let end = start
        .checked_add(ARENA_BYTES)
        .ok_or("the arena is outside 32-bit memory")?;
    for id in [1, 3, 6, 7, 10] {
        if find(id).is_none() {
            return Err(format!("the module has no section {id}"));
        }
    }
    // Second pass: copy, appending to the five sections.
    let mut out = module[..8].to_vec();
    let (mut type_index, mut func_index, mut global_index) = (0, 0, 0);
    for (id, body) in &sections {
        let new = match id {
            1 => {
                let (b, n) = append_entry(body, &[0x60, 4, 0x7f, 0x7f, 0x7f, 0x7f, 1, 0x7f])?;
                type_index = n;
                b
            }
            3 => {
                let mut e = Vec::new();
                put_leb(&mut e, type_index);
                let (b, n) = append_entry(body, &e)?;
                func_index = imported_funcs + n;
                b
            }
            6 => {
                let mut e = vec![0x7f, 0x01, 0x41];
                put_sleb(&mut e, start as i32);
                e.push(0x0b);
                let (b, n) = append_entry(body, &e)?;
                global_index = n;
                b
            }
            7 => {
                let name = b"cabi_realloc_adapter";
                let mut e = Vec::new();
                put_leb(&mut e, name.len() as u32);
                e.extend_from_slice(name);
                e.push(0x00);
                put_leb(&mut e, func_index);
                append_entry(body, &e)?.0
            }
            10 => append_entry(body, &realloc_body(global_index, end))?.0,
            _ => body.to_vec(),
        };
        out.push(*id);
        put_leb(&mut out, new.len() as u32);
        out.extend(new);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn leb128_round_trips() {
        for v in [0, 1, 127, 128, 300, 65536, u32::MAX] {
            let mut b = Vec::new();
            put_leb(&mut b, v);
            let mut at = 0;
            assert_eq!(leb(&b, &mut at).unwrap(), v);
            assert_eq!(at, b.len());
        }
    }

    #[test]
    fn a_module_without_the_arena_is_refused_by_name() {
        // (module (memory 1) (data (i32.const 16) "hello"))
        let module = [
            0, 0x61, 0x73, 0x6d, 1, 0, 0, 0, // header
            5, 3, 1, 0, 1, // memory
            11, 11, 1, 0, 0x41, 16, 0x0b, 5, b'h', b'e', b'l', b'l', b'o',
        ];
        let err = add_adapter_realloc(&module).unwrap_err();
        assert!(err.contains("adapter arena"), "{err}");
    }
}
