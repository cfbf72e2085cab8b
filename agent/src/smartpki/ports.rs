//! The SmartPKI ports of one daemon connection (one browser's extension). A port belongs to
//! the origin that opened it: a request from another origin naming it is refused as if the
//! port did not exist. When the connection closes, the table is dropped and every port's key
//! and memory with it.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use rand::Rng as _;

use super::port::Port;
use crate::error::{Error, Result};
use crate::policy::Origin;

/// Ports one connection may hold at once: one per tab is plenty, and each costs a key
/// generation, so a page opening ports in a loop is stopped here.
pub const MAX_PORTS: usize = 64;

/// Port handles are also the page's `tabid`, from which the page counts message ids
/// (`tabid * 10000` upwards): they stay well inside JavaScript's exact integers.
const HANDLES: std::ops::Range<u64> = 1_000_000..900_000_000_000;

/// Open ports by handle, each with the origin that opened it.
type Table = HashMap<u64, (Origin, Arc<Mutex<Port>>)>;

/// The ports of one connection.
#[derive(Default)]
pub struct Ports {
    open: Mutex<Table>,
}

impl Ports {
    /// Registers a port for `origin` and returns its handle.
    pub fn insert(&self, origin: Origin, port: Port) -> Result<u64> {
        let mut open = self.lock()?;
        if open.len() >= MAX_PORTS {
            return Err(Error::BadInput(format!(
                "too many SmartPKI ports are open ({MAX_PORTS}); close a tab"
            )));
        }
        // Random, not counted: handles of one site say nothing about another's.
        let mut rng = rand::thread_rng();
        let handle = loop {
            let candidate = rng.gen_range(HANDLES);
            if !open.contains_key(&candidate) {
                break candidate;
            }
        };
        open.insert(handle, (origin, Arc::new(Mutex::new(port))));
        Ok(handle)
    }

    /// The port `handle`, if `origin` opened it.
    pub fn get(&self, handle: u64, origin: &Origin) -> Result<Arc<Mutex<Port>>> {
        match self.lock()?.get(&handle) {
            Some((owner, port)) if owner == origin => Ok(port.clone()),
            _ => Err(Error::BadInput("the SmartPKI port is not open".to_owned())),
        }
    }

    /// Closes the port `handle` if `origin` opened it; whether it was open.
    pub fn remove(&self, handle: u64, origin: &Origin) -> Result<bool> {
        let mut open = self.lock()?;
        match open.get(&handle) {
            Some((owner, _)) if owner == origin => Ok(open.remove(&handle).is_some()),
            _ => Ok(false),
        }
    }

    /// How many ports are open.
    pub fn len(&self) -> usize {
        self.lock().map(|o| o.len()).unwrap_or(0)
    }

    /// Whether no port is open.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn lock(&self) -> Result<std::sync::MutexGuard<'_, Table>> {
        self.open
            .lock()
            .map_err(|_| Error::Internal("SmartPKI port table poisoned".to_owned()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::smartpki::pin_unwrap::tests::test_key;

    #[test]
    fn a_port_belongs_to_its_origin() {
        let ports = Ports::default();
        let site = Origin::parse("https://a.example.gov.tw").unwrap();
        let other = Origin::parse("https://b.example.gov.tw").unwrap();
        let handle = ports.insert(site.clone(), Port::new(test_key())).unwrap();
        assert!(HANDLES.contains(&handle));
        assert!(ports.get(handle, &site).is_ok());
        assert!(ports.get(handle, &other).is_err());
        assert!(!ports.remove(handle, &other).unwrap());
        assert_eq!(ports.len(), 1);
        assert!(ports.remove(handle, &site).unwrap());
        assert!(ports.get(handle, &site).is_err());
        assert!(ports.is_empty());
    }

    #[test]
    fn ports_are_bounded() {
        let ports = Ports::default();
        let site = Origin::parse("https://a.example.gov.tw").unwrap();
        for _ in 0..MAX_PORTS {
            ports.insert(site.clone(), Port::new(test_key())).unwrap();
        }
        assert!(ports.insert(site, Port::new(test_key())).is_err());
    }
}
