//! The functions this module changes; each reads the control file, then forwards to the real
//! module and adjusts what it says.

use std::time::Duration;

use cryptoki_sys::*;

use crate::control::{self, Control, Garbage, PinPad};
use crate::{target, tries};

/// The real module's list with our functions in the places we intercept.
pub fn intercept(real: CK_FUNCTION_LIST) -> CK_FUNCTION_LIST {
    CK_FUNCTION_LIST {
        C_GetFunctionList: Some(crate::C_GetFunctionList),
        C_Initialize: Some(C_Initialize),
        C_GetInfo: Some(C_GetInfo),
        C_GetSlotList: Some(C_GetSlotList),
        C_GetSlotInfo: Some(C_GetSlotInfo),
        C_GetTokenInfo: Some(C_GetTokenInfo),
        C_OpenSession: Some(C_OpenSession),
        C_Login: Some(C_Login),
        C_Sign: Some(C_Sign),
        C_Decrypt: Some(C_Decrypt),
        C_GetAttributeValue: Some(C_GetAttributeValue),
        C_FindObjectsInit: Some(C_FindObjectsInit),
        ..real
    }
}

/// The real module's function, or CKR_FUNCTION_NOT_SUPPORTED when it has none.
macro_rules! real {
    ($name:ident) => {
        match target().ok().and_then(|list| list.$name) {
            Some(f) => f,
            None => return CKR_FUNCTION_NOT_SUPPORTED,
        }
    };
}

/// Reads the control file and applies the faults every intercepted call can have.
fn enter(function: &str) -> Control {
    let control = Control::read();
    if control.aborts(function) {
        std::process::abort();
    }
    if control.hangs(function) {
        loop {
            std::thread::sleep(Duration::from_secs(3600));
        }
    }
    control
}

fn delay(ms: u64) {
    if ms > 0 {
        std::thread::sleep(Duration::from_millis(ms));
    }
}

/// Writes `text` blank-padded into a fixed-size PKCS#11 string field.
fn pad(field: &mut [u8], text: &[u8]) {
    field.fill(b' ');
    let n = text.len().min(field.len());
    field[..n].copy_from_slice(&text[..n]);
}

/// Pulls the card out during `session`'s operation: every session on its slot is closed, as a
/// real module does when the reader reports the card gone.
fn pull_card(session: CK_SESSION_HANDLE) {
    control::remove_card();
    let mut info = CK_SESSION_INFO {
        slotID: 0,
        state: 0,
        flags: 0,
        ulDeviceError: 0,
    };
    let (Some(get_info), Some(close_all)) = (
        target().ok().and_then(|l| l.C_GetSessionInfo),
        target().ok().and_then(|l| l.C_CloseAllSessions),
    ) else {
        return;
    };
    // SAFETY: forwarding to the real module with a valid out-structure.
    unsafe {
        if get_info(session, &mut info) == CKR_OK {
            close_all(info.slotID);
        }
    }
}

unsafe extern "C" fn C_Initialize(args: *mut std::ffi::c_void) -> CK_RV {
    enter("C_Initialize");
    let f = real!(C_Initialize);
    // SAFETY: the caller's arguments, forwarded unchanged.
    unsafe { f(args) }
}

unsafe extern "C" fn C_GetInfo(info: *mut CK_INFO) -> CK_RV {
    let control = enter("C_GetInfo");
    let f = real!(C_GetInfo);
    // SAFETY: the caller's arguments, forwarded unchanged.
    let rv = unsafe { f(info) };
    if rv != CKR_OK || info.is_null() {
        return rv;
    }
    // SAFETY: the real module filled it; non-NULL checked.
    let info = unsafe { &mut *info };
    if let Some(d) = &control.library_description {
        pad(&mut info.libraryDescription, d.as_bytes());
    }
    if let Some(m) = &control.library_manufacturer {
        pad(&mut info.manufacturerID, m.as_bytes());
    }
    if let Some((major, minor)) = control.library_version {
        info.libraryVersion = CK_VERSION { major, minor };
    }
    rv
}

unsafe extern "C" fn C_GetSlotList(
    present: CK_BBOOL,
    list: *mut CK_SLOT_ID,
    count: *mut CK_ULONG,
) -> CK_RV {
    let control = enter("C_GetSlotList");
    if count.is_null() {
        return CKR_ARGUMENTS_BAD;
    }
    if control.garbage(Garbage::ZeroSlots) || (present != 0 && control::removed()) {
        // SAFETY: non-NULL checked.
        unsafe { *count = 0 };
        return CKR_OK;
    }
    let f = real!(C_GetSlotList);
    // SAFETY: the caller's arguments, forwarded unchanged.
    unsafe { f(present, list, count) }
}

unsafe extern "C" fn C_GetSlotInfo(slot: CK_SLOT_ID, info: *mut CK_SLOT_INFO) -> CK_RV {
    enter("C_GetSlotInfo");
    let f = real!(C_GetSlotInfo);
    // SAFETY: the caller's arguments, forwarded unchanged.
    let rv = unsafe { f(slot, info) };
    if rv == CKR_OK && !info.is_null() && control::removed() {
        // SAFETY: the real module filled it; non-NULL checked.
        unsafe { (*info).flags &= !CKF_TOKEN_PRESENT };
    }
    rv
}

unsafe extern "C" fn C_GetTokenInfo(slot: CK_SLOT_ID, info: *mut CK_TOKEN_INFO) -> CK_RV {
    let control = enter("C_GetTokenInfo");
    if control::removed() {
        return CKR_TOKEN_NOT_PRESENT;
    }
    let f = real!(C_GetTokenInfo);
    // SAFETY: the caller's arguments, forwarded unchanged.
    let rv = unsafe { f(slot, info) };
    if rv != CKR_OK || info.is_null() {
        return rv;
    }
    // SAFETY: the real module filled it; non-NULL checked.
    let info = unsafe { &mut *info };
    if control.pin_pad.is_some() {
        info.flags |= CKF_PROTECTED_AUTHENTICATION_PATH;
    }
    if control.hicos_tries {
        info.flags = tries::flags(info.flags);
    }
    if control.garbage(Garbage::Label) {
        pad(&mut info.label, b"\xff\xfeHiCOS\x80\xc3(");
    }
    rv
}

unsafe extern "C" fn C_OpenSession(
    slot: CK_SLOT_ID,
    flags: CK_FLAGS,
    app: *mut std::ffi::c_void,
    notify: CK_NOTIFY,
    session: *mut CK_SESSION_HANDLE,
) -> CK_RV {
    enter("C_OpenSession");
    if control::removed() {
        return CKR_TOKEN_NOT_PRESENT;
    }
    let f = real!(C_OpenSession);
    // SAFETY: the caller's arguments, forwarded unchanged.
    unsafe { f(slot, flags, app, notify, session) }
}

unsafe extern "C" fn C_Login(
    session: CK_SESSION_HANDLE,
    user: CK_USER_TYPE,
    pin: *mut CK_UTF8CHAR,
    pin_len: CK_ULONG,
) -> CK_RV {
    let control = enter("C_Login");
    let who = match user {
        CKU_USER => "user",
        CKU_CONTEXT_SPECIFIC => "context-specific",
        CKU_SO => "so",
        _ => "other",
    };
    control::log(&format!(
        "C_Login {who} {}",
        if pin.is_null() { "no-pin" } else { "pin" }
    ));
    if control::removed() {
        return CKR_DEVICE_REMOVED;
    }
    delay(control.login_ms);
    // The PIN pad: the module, not the application, gets the PIN from the reader.
    let mut typed: Vec<u8>;
    let (pin, pin_len) = match (&control.pin_pad, pin.is_null()) {
        (Some(PinPad::Cancel), true) => return CKR_FUNCTION_CANCELED,
        (Some(PinPad::Types(p)), true) => {
            typed = p.as_bytes().to_vec();
            (typed.as_mut_ptr(), typed.len() as CK_ULONG)
        }
        _ => (pin, pin_len),
    };
    if control.hicos_tries && user != CKU_SO && tries::left() == 0 {
        return CKR_PIN_LOCKED;
    }
    let f = real!(C_Login);
    // SAFETY: the caller's arguments, or our own buffer that outlives the call.
    let rv = unsafe { f(session, user, pin, pin_len) };
    if control.hicos_tries && user != CKU_SO {
        match rv {
            CKR_OK | CKR_USER_ALREADY_LOGGED_IN => tries::record(true),
            CKR_PIN_INCORRECT => tries::record(false),
            _ => {}
        }
    }
    rv
}

unsafe extern "C" fn C_Sign(
    session: CK_SESSION_HANDLE,
    data: *mut CK_BYTE,
    data_len: CK_ULONG,
    signature: *mut CK_BYTE,
    signature_len: *mut CK_ULONG,
) -> CK_RV {
    let control = enter("C_Sign");
    if control::removed() {
        return CKR_DEVICE_REMOVED;
    }
    // A NULL buffer only asks for the length; the card works on the second call.
    if !signature.is_null() {
        if control.remove_on.as_deref() == Some("C_Sign") {
            pull_card(session);
            return CKR_DEVICE_REMOVED;
        }
        delay(control.sign_ms);
    }
    let f = real!(C_Sign);
    // SAFETY: the caller's arguments, forwarded unchanged.
    unsafe { f(session, data, data_len, signature, signature_len) }
}

unsafe extern "C" fn C_Decrypt(
    session: CK_SESSION_HANDLE,
    data: *mut CK_BYTE,
    data_len: CK_ULONG,
    out: *mut CK_BYTE,
    out_len: *mut CK_ULONG,
) -> CK_RV {
    let control = enter("C_Decrypt");
    if control::removed() {
        return CKR_DEVICE_REMOVED;
    }
    if !out.is_null() {
        if control.remove_on.as_deref() == Some("C_Decrypt") {
            pull_card(session);
            return CKR_DEVICE_REMOVED;
        }
        delay(control.decrypt_ms);
    }
    let f = real!(C_Decrypt);
    // SAFETY: the caller's arguments, forwarded unchanged.
    unsafe { f(session, data, data_len, out, out_len) }
}

unsafe extern "C" fn C_GetAttributeValue(
    session: CK_SESSION_HANDLE,
    object: CK_OBJECT_HANDLE,
    template: *mut CK_ATTRIBUTE,
    count: CK_ULONG,
) -> CK_RV {
    let control = enter("C_GetAttributeValue");
    if control::removed() {
        return CKR_DEVICE_REMOVED;
    }
    delay(control.read_ms);
    let f = real!(C_GetAttributeValue);
    // SAFETY: the caller's arguments, forwarded unchanged.
    let rv = unsafe { f(session, object, template, count) };
    if rv == CKR_OK && !template.is_null() {
        // SAFETY: the caller's template of `count` entries, filled by the real module.
        let attrs = unsafe { std::slice::from_raw_parts(template, count as usize) };
        // A value read (not a length query): on a card, a certificate's bytes come over many
        // READ BINARY APDUs, so the bench counts these to find duplicate reads.
        if attrs
            .iter()
            .any(|a| a.type_ == CKA_VALUE && !a.pValue.is_null())
        {
            control::log("C_GetAttributeValue CKA_VALUE");
        }
        // A key's CKA_ALWAYS_AUTHENTICATE: the agent reads it once per key, not per signature.
        if attrs
            .iter()
            .any(|a| a.type_ == CKA_ALWAYS_AUTHENTICATE && !a.pValue.is_null())
        {
            control::log("C_GetAttributeValue CKA_ALWAYS_AUTHENTICATE");
        }
    }
    if control.garbage(Garbage::ValueLength) && !template.is_null() {
        // SAFETY: the caller's template of `count` entries.
        let attrs = unsafe { std::slice::from_raw_parts_mut(template, count as usize) };
        for a in attrs {
            if a.type_ == CKA_VALUE
                && a.pValue.is_null()
                && a.ulValueLen != CK_UNAVAILABLE_INFORMATION
            {
                a.ulValueLen = 1 << 40;
            }
        }
    }
    rv
}

unsafe extern "C" fn C_FindObjectsInit(
    session: CK_SESSION_HANDLE,
    template: *mut CK_ATTRIBUTE,
    count: CK_ULONG,
) -> CK_RV {
    enter("C_FindObjectsInit");
    if control::removed() {
        return CKR_DEVICE_REMOVED;
    }
    let f = real!(C_FindObjectsInit);
    // SAFETY: the caller's arguments, forwarded unchanged.
    unsafe { f(session, template, count) }
}
