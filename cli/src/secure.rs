//! `--secure` for `ferry recv`, `ferry send` and `ferry cat` (docs/protocol.md section 10):
//! a listener's identity, made for the run and printed, or kept in a `--key` file; a
//! client's trust in the server, pinned with `--server-key` or, as SSH does, remembered on
//! first use in a known-hosts file under the home directory, which then refuses a changed key;
//! 0-RTT data for a client that knows the key, and a server's refusal of it.

use std::fs;
use std::io::{self, Read, Write};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use ferry::conn::ConnectionError;
use ferry::secure::{Identity, PublicKey, SecureConfig, MAX_EARLY_DATA};
use ferry::Stream;

fn key_arg(text: &str) -> Result<PublicKey, String> {
    text.parse().map_err(|error| format!("{error}"))
}

/// The secure mode's options.
#[derive(clap::Args)]
pub struct SecureOptions {
    /// Encrypt and authenticate the connection (Noise NX in the SYNs, then every segment
    /// with AES-256-GCM). Both ends must say it: a plain peer is refused, never a
    /// silent fall back to plaintext. Not with --rendezvous: a punched connection is a
    /// simultaneous open, which has no server to prove a key.
    #[arg(long, conflicts_with = "rendezvous")]
    secure: bool,
    /// Listening: the file holding this server's identity (its private key, 64 hexadecimal
    /// digits), made with a new identity if it does not exist. Without it, each run makes a
    /// new one. The public key clients pin is printed either way.
    #[arg(long, requires = "secure")]
    key: Option<PathBuf>,
    /// Connecting: the server's public key, as the server printed it; the connection fails
    /// unless the server proves it.
    #[arg(long, requires = "secure", value_parser = key_arg)]
    server_key: Option<PublicKey>,
    /// Connecting without --server-key: the known-hosts file (default
    /// $HOME/.ferry/known_hosts). A server met for the first time is trusted and its key
    /// written there; a server whose key changed is refused.
    #[arg(long, requires = "secure")]
    known_hosts: Option<PathBuf>,
    /// Connecting to a server whose key is known (--server-key, or the known-hosts file):
    /// send the first bytes of the input (what one read gives, up to 1 KiB) encrypted in the
    /// SYN itself (0-RTT), so the server has them half a round trip after the connect.
    /// Anyone who records that SYN can replay it, and the server then takes the bytes again:
    /// use it only for what is safe to receive twice. Without a known key the bytes go after
    /// the handshake, as without this flag.
    #[arg(long, requires = "secure")]
    early_data: bool,
    /// Listening: take no 0-RTT data. A client's early data is dropped unread, and the
    /// client sends it again after the handshake; no replayed SYN delivers anything.
    #[arg(long, requires = "secure")]
    refuse_early_data: bool,
}

/// Why a client trusts the key the server proves.
pub enum Trust {
    /// No secure mode.
    Plain,
    /// `--server-key`.
    Pinned,
    /// The known-hosts file holds the server's key: pinned from there.
    Known(PathBuf),
    /// The server is not in the known-hosts file: its key is taken, and written there.
    FirstUse(PathBuf),
}

impl SecureOptions {
    /// A listener's secure mode: its identity, from the `--key` file (made if missing) or
    /// new; the public key is printed on stderr for clients to pin.
    pub fn listening(&self, command: &str) -> Result<Option<SecureConfig>, String> {
        if !self.secure {
            return Ok(None);
        }
        let identity = match &self.key {
            None => ferry::net::new_identity(),
            Some(path) => identity_file(path)?,
        };
        eprintln!(
            "ferry {command}: secure, server key {}",
            identity.public_key()
        );
        let mut config = SecureConfig::server(identity);
        config.refuse_early_data = self.refuse_early_data;
        Ok(Some(config))
    }

    /// What a client sends in its SYN with `--early-data`: one read of `input`, up to
    /// [`MAX_EARLY_DATA`] bytes; nothing without the flag.
    pub fn early_data(&self, input: &mut dyn Read) -> io::Result<Vec<u8>> {
        let mut first = vec![0; MAX_EARLY_DATA];
        if !(self.secure && self.early_data) {
            return Ok(Vec::new());
        }
        let len = loop {
            match input.read(&mut first) {
                Err(error) if error.kind() == io::ErrorKind::Interrupted => continue,
                read => break read?,
            }
        };
        first.truncate(len);
        Ok(first)
    }

    /// A client's secure mode to `peer`, and why it will trust the server's key.
    pub fn connecting(&self, peer: SocketAddr) -> Result<(Option<SecureConfig>, Trust), String> {
        if !self.secure {
            return Ok((None, Trust::Plain));
        }
        if let Some(key) = self.server_key {
            return Ok((Some(SecureConfig::client(Some(key))), Trust::Pinned));
        }
        let path = match &self.known_hosts {
            Some(path) => path.clone(),
            None => default_known_hosts()?,
        };
        Ok(match known_key(&path, peer)? {
            Some(key) => (Some(SecureConfig::client(Some(key))), Trust::Known(path)),
            None => (Some(SecureConfig::client(None)), Trust::FirstUse(path)),
        })
    }
}

impl Trust {
    /// After connecting to `peer`: a server met for the first time has its key written to
    /// the known-hosts file, and the user is told.
    pub fn remember(&self, command: &str, peer: SocketAddr, stream: &Stream) -> Result<(), String> {
        let Trust::FirstUse(path) = self else {
            return Ok(());
        };
        let key = stream
            .peer_key()
            .ok_or("the secure handshake proved no server key")?;
        if let Some(directory) = path.parent() {
            fs::create_dir_all(directory)
                .map_err(|error| format!("cannot write {}: {error}", path.display()))?;
        }
        fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .and_then(|mut file| writeln!(file, "{peer} {key}"))
            .map_err(|error| format!("cannot write {}: {error}", path.display()))?;
        eprintln!(
            "ferry {command}: trusting {peer} on first use, server key {key} (written to {})",
            path.display()
        );
        Ok(())
    }

    /// What a failed connect to `peer` means, when the trust in a key is why it failed.
    pub fn explain(&self, peer: SocketAddr, error: &io::Error) -> Option<String> {
        let mismatch = error
            .get_ref()
            .and_then(|inner| inner.downcast_ref::<ConnectionError>())
            == Some(&ConnectionError::ServerKeyMismatch);
        match self {
            Trust::Known(path) if mismatch => Some(format!(
                "the server key of {peer} is not the one {} holds: a man in the middle, or a \
                 changed server key (delete its line there to trust the new one)",
                path.display()
            )),
            Trust::Pinned if mismatch => Some(format!(
                "the server key of {peer} is not the one --server-key gives: a man in the \
                 middle, or a changed server key"
            )),
            _ => None,
        }
    }
}

/// `$HOME/.ferry/known_hosts`.
fn default_known_hosts() -> Result<PathBuf, String> {
    let home = std::env::var_os("HOME")
        .filter(|home| !home.is_empty())
        .ok_or("no HOME: give --server-key or --known-hosts")?;
    Ok(Path::new(&home).join(".ferry").join("known_hosts"))
}

/// The key the known-hosts file at `path` holds for `peer`: lines of an address and a key,
/// `#` comments and blank lines aside. A missing file holds none.
fn known_key(path: &Path, peer: SocketAddr) -> Result<Option<PublicKey>, String> {
    let text = match fs::read_to_string(path) {
        Ok(text) => text,
        Err(error) if error.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(error) => return Err(format!("cannot read {}: {error}", path.display())),
    };
    for (number, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let bad_line = || {
            format!(
                "{} line {}: not an address and a key",
                path.display(),
                number + 1
            )
        };
        let (address, key) = line.split_once(char::is_whitespace).ok_or_else(bad_line)?;
        let address: SocketAddr = address.parse().map_err(|_| bad_line())?;
        if address == peer {
            return key.parse().map(Some).map_err(|_| bad_line());
        }
    }
    Ok(None)
}

/// The identity kept in the file at `path`, or a new one written there (readable by its
/// owner alone) if there is no such file.
fn identity_file(path: &Path) -> Result<Identity, String> {
    match fs::read_to_string(path) {
        Ok(text) => Identity::from_private_key_hex(&text)
            .map_err(|error| format!("{}: {error}", path.display())),
        Err(error) if error.kind() == io::ErrorKind::NotFound => {
            let identity = ferry::net::new_identity();
            let mut options = fs::OpenOptions::new();
            options.write(true).create_new(true);
            #[cfg(unix)]
            std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
            options
                .open(path)
                .and_then(|mut file| writeln!(file, "{}", identity.private_key_hex()))
                .map_err(|error| format!("cannot write {}: {error}", path.display()))?;
            Ok(identity)
        }
        Err(error) => Err(format!("cannot read {}: {error}", path.display())),
    }
}
