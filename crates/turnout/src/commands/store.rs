//! `turnout store export|import`: the whole store as JSON, read from or written to the data
//! directory of a stopped node (the store file is locked while `turnout serve` runs).

use turnout_store::{Export, Store};

use super::{Failure, say};
use crate::cli::StoreCommand;

pub async fn run(command: &StoreCommand) -> Result<(), Failure> {
    match command {
        StoreCommand::Export { data_dir } => {
            if !data_dir.join(crate::serve::STORE_FILE).exists() {
                return Err(Failure::Store(format!("no store in {}", data_dir.display())));
            }
            let store =
                crate::serve::open_store(data_dir).map_err(|e| Failure::Store(format!("{e:#}")))?;
            let export = store.export().await.map_err(|e| Failure::Store(e.to_string()))?;
            let text =
                serde_json::to_string_pretty(&export).map_err(|e| Failure::Store(e.to_string()))?;
            say(&text);
            Ok(())
        }
        StoreCommand::Import { file, data_dir } => {
            let text = std::fs::read_to_string(file)
                .map_err(|e| Failure::Input(format!("cannot read {}: {e}", file.display())))?;
            let export = Export::parse(&text)
                .map_err(|e| Failure::Input(format!("{}: {e}", file.display())))?;
            let store =
                crate::serve::open_store(data_dir).map_err(|e| Failure::Store(format!("{e:#}")))?;
            let response =
                store.import(&export).await.map_err(|e| Failure::Store(e.to_string()))?;
            say(&format!(
                "imported {} keys into {} (store revision {})",
                export.entries.len(),
                data_dir.display(),
                response.revision
            ));
            Ok(())
        }
    }
}
