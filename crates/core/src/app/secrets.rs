//! The secrets use cases: what the configuration needs and where each is set, setting and
//! deleting keychain entries, the local API's token. Values never leave through a listing.

use super::App;
use crate::config::Registry;
use crate::secrets::{Secret, SecretInfo};
use crate::Error;

impl App {
    /// The secrets the configuration refers to and where each is set (never a value).
    pub async fn secrets_list(&self) -> Result<Vec<SecretInfo>, Error> {
        let (reg, _) = Registry::load(&self.paths.config_dir);
        let wanted = crate::secrets::wanted(&reg);
        self.keychain(move |s| s.list(&wanted)).await
    }

    /// What is wrong with a secret name, if anything (the rule the keychain store enforces).
    pub fn secret_name_problem(&self, name: &str) -> Option<String> {
        (!crate::secrets::valid_name(name))
            .then(|| Error::BadSecretName(name.to_string()).to_string())
    }

    /// Store (or replace) a secret in the OS keychain.
    pub async fn secret_set(&self, name: &str, value: Secret) -> Result<(), Error> {
        let name = name.to_string();
        self.keychain(move |s| s.set(&name, value)).await
    }

    /// Remove a secret from the keychain; false when it was not there.
    pub async fn secret_delete(&self, name: &str) -> Result<bool, Error> {
        let name = name.to_string();
        self.keychain(move |s| s.delete(&name)).await
    }

    /// The local API's bearer token (generated on first use, kept in the keychain).
    pub async fn api_token(&self) -> Result<Secret, Error> {
        self.keychain(|s| s.api_token()).await
    }

    /// A new API token in place of the old one (clients holding the old one are refused).
    pub async fn rotate_api_token(&self) -> Result<Secret, Error> {
        self.keychain(|s| s.rotate_api_token()).await
    }
}
