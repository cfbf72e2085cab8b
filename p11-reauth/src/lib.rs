//! Keys with CKA_ALWAYS_AUTHENTICATE need the PIN again for every use: PKCS#11 wants
//! `C_Login(CKU_CONTEXT_SPECIFIC)` *between* `C_SignInit` and `C_Sign` (or `C_DecryptInit` and
//! `C_Decrypt`). cryptoki's `Session::sign` and `Session::decrypt` make the init and the
//! operation in one call, and its multi-part calls do not help: raw RSA (CKM_RSA_PKCS) and
//! ECDSA are single-part only on cards and on SoftHSM. This crate makes that one sequence
//! through the module's own function list, so that the agent keeps `forbid(unsafe_code)`; it
//! holds the workspace's only `unsafe` outside the test module.
//!
//! It loads the same shared library cryptoki loaded (the dynamic loader hands back the same
//! instance, so sessions and logins are shared) and only ever receives sessions and key
//! handles that cryptoki gave the caller.

#![deny(unsafe_op_in_unsafe_fn)]
#![warn(missing_docs, clippy::unwrap_used)]

use std::path::Path;

use cryptoki::context::Function;
use cryptoki::error::{Error as CkError, Rv};
use cryptoki::mechanism::Mechanism;
use cryptoki::object::ObjectHandle;
use cryptoki::session::Session;
use cryptoki_sys::{
    CKR_BUFFER_TOO_SMALL, CKR_OK, CKU_CONTEXT_SPECIFIC, CK_FUNCTION_LIST, CK_MECHANISM, CK_RV,
    CK_ULONG,
};

/// Longest output accepted from one operation: an RSA-16384 signature is 2 KiB, so more is a
/// module answering nonsense, refused before any buffer is made.
pub const MAX_OUTPUT: usize = 16 * 1024;

/// Why the sequence failed.
#[derive(Debug)]
pub enum Failure {
    /// A PKCS#11 function returned an error, as cryptoki reports it (so that the caller's one
    /// translation of CKR codes applies).
    Call(CkError),
    /// A length the module reported is beyond [`MAX_OUTPUT`].
    OutputTooLong {
        /// The function.
        function: &'static str,
    },
    /// The module could not be loaded, or has no function list.
    Load,
}

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Failure::Call(e) => write!(f, "{e}"),
            Failure::OutputTooLong { function } => {
                write!(
                    f,
                    "{function} reported an output longer than {MAX_OUTPUT} bytes"
                )
            }
            Failure::Load => f.write_str("the module's function list could not be read"),
        }
    }
}

/// The operation to re-authenticate for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Operation {
    /// `C_SignInit` … `C_Sign`.
    Sign,
    /// `C_DecryptInit` … `C_Decrypt`.
    Decrypt,
}

/// A module's function list, for the re-authentication sequence.
pub struct Module {
    /// Keeps the library mapped while the function pointers are in use.
    _library: cryptoki_sys::Pkcs11,
    list: CK_FUNCTION_LIST,
}

impl std::fmt::Debug for Module {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Module").finish_non_exhaustive()
    }
}

impl Module {
    /// Opens the module at `path`, which the caller already loaded and initialised with
    /// cryptoki.
    pub fn load(path: &Path) -> Result<Module, Failure> {
        // SAFETY: the caller loaded this very library already (through cryptoki), so its
        // initialisers have run; opening it again only takes another reference.
        let library = unsafe { cryptoki_sys::Pkcs11::new(path) }.map_err(|_| Failure::Load)?;
        if library.C_GetFunctionList.is_err() {
            return Err(Failure::Load);
        }
        let mut list: *mut CK_FUNCTION_LIST = std::ptr::null_mut();
        // SAFETY: the symbol exists (checked above) and takes one out-pointer.
        let rv = unsafe { library.C_GetFunctionList(&mut list) };
        if rv != CKR_OK || list.is_null() {
            return Err(Failure::Load);
        }
        // SAFETY: a function list stays valid while its library is loaded; copied by value.
        let list = unsafe { *list };
        Ok(Module {
            _library: library,
            list,
        })
    }

    /// Starts `operation` with `key`, logs in for that key alone with `pin`
    /// (`C_Login(CKU_CONTEXT_SPECIFIC)`; `None` for a PIN-pad reader, where the module reads
    /// the PIN itself) and runs the operation on `input`. A failed login ends the sequence: the
    /// PIN is never presented twice.
    pub fn run(
        &self,
        session: &Session,
        operation: Operation,
        mechanism: &Mechanism<'_>,
        key: ObjectHandle,
        pin: Option<&[u8]>,
        input: &[u8],
    ) -> Result<Vec<u8>, Failure> {
        let (init_name, run_name, run_fn) = match operation {
            Operation::Sign => (Function::SignInit, "C_Sign", Function::Sign),
            Operation::Decrypt => (Function::DecryptInit, "C_Decrypt", Function::Decrypt),
        };
        let (init, op) = match operation {
            Operation::Sign => (self.list.C_SignInit, self.list.C_Sign),
            Operation::Decrypt => (self.list.C_DecryptInit, self.list.C_Decrypt),
        };
        let (Some(init), Some(op), Some(login)) = (init, op, self.list.C_Login) else {
            return Err(Failure::Load);
        };
        let h = session.handle();
        let mut mechanism: CK_MECHANISM = mechanism.into();
        // SAFETY: a live session and a key handle from cryptoki; `mechanism` outlives the call.
        check(init_name, unsafe { init(h, &mut mechanism, key.handle()) })?;
        let (pin_ptr, pin_len) = match pin {
            // The module only reads the PIN (the prototype's pointer is not const).
            Some(p) => (p.as_ptr() as *mut u8, p.len() as CK_ULONG),
            None => (std::ptr::null_mut(), 0),
        };
        // SAFETY: the PIN buffer outlives the call and is only read.
        check(Function::Login, unsafe {
            login(h, CKU_CONTEXT_SPECIFIC, pin_ptr, pin_len)
        })?;
        let mut input = input.to_vec();
        let input_len = input.len() as CK_ULONG;
        let mut len: CK_ULONG = 0;
        // SAFETY: a NULL output asks for the length only; `input` outlives the call.
        check(run_fn, unsafe {
            op(
                h,
                input.as_mut_ptr(),
                input_len,
                std::ptr::null_mut(),
                &mut len,
            )
        })?;
        let capacity = usize::try_from(len)
            .ok()
            .filter(|n| *n <= MAX_OUTPUT)
            .ok_or(Failure::OutputTooLong { function: run_name })?;
        let mut output = vec![0u8; capacity];
        let mut out_len = len;
        // SAFETY: `output` holds `out_len` writable bytes; `input` outlives the call.
        let rv = unsafe {
            op(
                h,
                input.as_mut_ptr(),
                input_len,
                output.as_mut_ptr(),
                &mut out_len,
            )
        };
        if rv == CKR_BUFFER_TOO_SMALL {
            return Err(Failure::OutputTooLong { function: run_name });
        }
        check(run_fn, rv)?;
        let written = usize::try_from(out_len)
            .ok()
            .filter(|n| *n <= capacity)
            .ok_or(Failure::OutputTooLong { function: run_name })?;
        output.truncate(written);
        Ok(output)
    }
}

fn check(function: Function, rv: CK_RV) -> Result<(), Failure> {
    match Rv::from(rv) {
        Rv::Ok => Ok(()),
        Rv::Error(e) => Err(Failure::Call(CkError::Pkcs11(e, function))),
    }
}
