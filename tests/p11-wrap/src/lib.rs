//! A PKCS#11 module for tests that behaves like the real card modules card-agent meets,
//! which SoftHSM2 does not: a PIN-pad reader, HiCOS's flag-only PIN counter that locks after
//! three wrong PINs, a module that hangs, crashes or answers nonsense, a card pulled out in the
//! middle of a signature, and a card's latencies. It is never shipped (the Debian package builds
//! only the agent).
//!
//! How it works: `C_GetFunctionList` loads the real module (`P11WRAP_TARGET`, SoftHSM2 by
//! default), copies its function list and replaces the entries of the few functions it
//! changes (see [`calls`]). Every other function goes straight to the real module, so nothing
//! is reimplemented and no function is left unsupported. What the module does is read from the
//! control file of [`control`] on every intercepted call.
//!
//! Why Rust and not C: the types and the function-list layout come from `cryptoki-sys`, the
//! bindings card-agent already builds, so the module cannot disagree with the agent about the
//! ABI, and cargo builds it with the tests. The `unsafe` needed to be a C module stays in this
//! crate; the agent keeps `forbid(unsafe_code)`.
//!
//! Layout: [`control`] (the test hook), [`tries`] (the modelled PIN counter), [`calls`] (the
//! intercepted functions).

#![allow(non_snake_case)]
#![deny(unsafe_op_in_unsafe_fn)]

pub mod calls;
pub mod control;
pub mod tries;

use std::sync::OnceLock;

use cryptoki_sys::{CKR_ARGUMENTS_BAD, CKR_OK, CK_FUNCTION_LIST, CK_FUNCTION_LIST_PTR_PTR, CK_RV};

/// The wrapped module, loaded once for the life of the process.
struct Target {
    /// Keeps the library mapped while its function pointers are in use.
    _library: cryptoki_sys::Pkcs11,
    /// The real module's function list, copied.
    list: CK_FUNCTION_LIST,
}

static TARGET: OnceLock<Result<Target, CK_RV>> = OnceLock::new();
static OURS: OnceLock<CK_FUNCTION_LIST> = OnceLock::new();

/// The real module's function list (loading it on first use).
fn target() -> Result<&'static CK_FUNCTION_LIST, CK_RV> {
    TARGET
        .get_or_init(load_target)
        .as_ref()
        .map(|t| &t.list)
        .map_err(|rv| *rv)
}

fn load_target() -> Result<Target, CK_RV> {
    let path =
        std::env::var_os(control::TARGET_ENV).unwrap_or_else(|| control::DEFAULT_TARGET.into());
    // SAFETY: loading a PKCS#11 module runs its initialisers; the module is the test's own
    // choice (SoftHSM2 by default), as trusted as this module itself.
    let library =
        unsafe { cryptoki_sys::Pkcs11::new(&path) }.map_err(|_| cryptoki_sys::CKR_GENERAL_ERROR)?;
    if library.C_GetFunctionList.is_err() {
        return Err(cryptoki_sys::CKR_GENERAL_ERROR);
    }
    let mut list: *mut CK_FUNCTION_LIST = std::ptr::null_mut();
    // SAFETY: the symbol exists (checked above) and takes one out-pointer.
    let rv = unsafe { library.C_GetFunctionList(&mut list) };
    if rv != CKR_OK || list.is_null() {
        return Err(cryptoki_sys::CKR_GENERAL_ERROR);
    }
    // SAFETY: a module's function list is valid for as long as the module is loaded, and we
    // copy it by value while it is.
    let list = unsafe { *list };
    Ok(Target {
        _library: library,
        list,
    })
}

/// The module's one exported entry point: the real module's list with our functions in the
/// places we intercept.
///
/// # Safety
/// `list` must be NULL or point to writable memory for one pointer, as PKCS#11 requires.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn C_GetFunctionList(list: CK_FUNCTION_LIST_PTR_PTR) -> CK_RV {
    if list.is_null() {
        return CKR_ARGUMENTS_BAD;
    }
    let real = match target() {
        Ok(real) => real,
        Err(rv) => return rv,
    };
    let ours = OURS.get_or_init(|| calls::intercept(*real));
    // SAFETY: checked non-NULL above; callers only read the list (the pointer is `*mut` in the
    // C prototype only).
    unsafe { *list = ours as *const CK_FUNCTION_LIST as *mut CK_FUNCTION_LIST };
    CKR_OK
}
