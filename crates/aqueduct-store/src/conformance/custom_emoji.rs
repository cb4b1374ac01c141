//! Checks of custom emoji uploads.

use crate::SqlStore;
use aqueduct_core::ids::ConnectorId;
use aqueduct_core::records::CustomEmojiRecord;
use aqueduct_core::store::Store;

fn emoji(source: &str, mxc: &str, shortcode: &str) -> CustomEmojiRecord {
    CustomEmojiRecord {
        connector: ConnectorId::new("slack"),
        source: source.into(),
        mxc: mxc.into(),
        shortcode: shortcode.into(),
    }
}

/// An upload is found by its source and by its URI; a second upload of a source is ignored.
pub async fn custom_emoji_by_source_and_mxc(store: &SqlStore) {
    assert_eq!(
        store.custom_emoji_by_source("https://e/1").await.unwrap(),
        None
    );
    assert_eq!(store.custom_emoji_by_mxc("mxc://hs/1").await.unwrap(), None);
    let first = emoji("https://e/1", "mxc://hs/1", ":party:");
    store.insert_custom_emoji(&first).await.unwrap();
    store
        .insert_custom_emoji(&emoji("https://e/1", "mxc://hs/2", ":party:"))
        .await
        .unwrap();
    assert_eq!(
        store.custom_emoji_by_source("https://e/1").await.unwrap(),
        Some(first.clone())
    );
    assert_eq!(
        store.custom_emoji_by_mxc("mxc://hs/1").await.unwrap(),
        Some(first)
    );
    assert_eq!(store.custom_emoji_by_mxc("mxc://hs/2").await.unwrap(), None);
    let other = emoji("https://e/2", "mxc://hs/3", ":parrot:");
    store.insert_custom_emoji(&other).await.unwrap();
    assert_eq!(
        store.custom_emoji_by_mxc("mxc://hs/3").await.unwrap(),
        Some(other)
    );
}
