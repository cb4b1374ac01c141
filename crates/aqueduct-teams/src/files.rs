//! Files and inline images, both ways, as Microsoft documents them for `chatMessage`.
//!
//! Matrix -> Teams: an image small enough goes inline, as a hosted content sent with the
//! message (`hostedContents` with a `@microsoft.graph.temporaryId`, named in the body by
//! `<img src="../hostedContents/{id}/$value">`; Graph takes these in chats and channels).
//! Every other file is uploaded first, as Teams does itself: in a chat to the sender's
//! OneDrive, folder `Microsoft Teams Chat Files` (`PUT /me/drive/root:/{folder}/{name}:/content`
//! up to `simple_upload_max_bytes`, an upload session beyond), then shared with the chat's
//! members (`invite`, no mail sent); in a channel to the channel's SharePoint folder
//! (`filesFolder`), which its team can read already. The message then carries a `reference`
//! attachment whose id is the GUID of the file's `eTag`, whose `contentUrl` is its folder's
//! `webUrl` plus its name, and which the body names by `<attachment id="...">`.
//!
//! Teams -> Matrix: inline images are the body's `<img>` whose `src` is a Graph
//! `.../hostedContents/{id}/$value`; files are `reference` attachments, read through Graph's
//! shares API (`/shares/u!{base64url(contentUrl)}/driveItem` for the size and type, then its
//! `/content`, which redirects to a pre-authenticated download). Both are fetched through the
//! media guard: the bearer token goes only to Graph's own origin, the URLs are built by the
//! bridge (never taken as given from the message), and a redirect elsewhere carries nothing.
//! A file over `max_file_bytes`, or one that cannot be fetched, is named in the message with
//! the reason instead.

use crate::api::TeamsLogin;
use crate::b64;
use crate::graph::{
    ChatMessage, ChatMessageAttachment, Collection, ConversationMember, DriveItem, NewChatMessage,
    NewHostedContent, UploadSession,
};
use crate::ids::Conversation;
use crate::poll::encode;
use aqueduct_connector::{Credentials, MAX_FILES_PER_MESSAGE};
use aqueduct_core::connector::{ConnectorError, ConnectorResult};
use aqueduct_core::event::{Attachment, AttachmentKind, MessageContent};
use aqueduct_format::escape_html;
use aqueduct_format::html::{Node, parse};
use serde_json::json;

/// Images up to this size go inline as hosted contents: they travel base64 in the message's
/// own request, which Graph keeps to a few megabytes. Larger ones go as files.
const HOSTED_IMAGE_MAX: usize = 2_500_000;
/// The folder of the sender's OneDrive where Teams keeps the files sent in chats.
pub(crate) const CHAT_FILES_FOLDER: &str = "Microsoft Teams Chat Files";
/// One piece of an upload session: a multiple of 320 KiB, as Graph asks.
const CHUNK: usize = 10 * 320 * 1024;
/// A photo larger than this is not taken as an avatar.
const MAX_PHOTO_BYTES: u64 = 5 * 1024 * 1024;

/// Adds a Matrix message's files to the message being sent: inline images as hosted
/// contents, other files uploaded and attached by reference.
pub(crate) async fn attach_outbound(
    login: &TeamsLogin,
    conv: Conversation<'_>,
    attachments: &[Attachment],
    body: &mut NewChatMessage,
) -> ConnectorResult<()> {
    let max = login.config.max_file_bytes;
    if let Some(big) = attachments.iter().find(|a| a.data.len() as u64 > max) {
        return Err(ConnectorError::Refused(format!(
            "{} is larger than the {max} bytes this bridge sends to Teams",
            big.name
        )));
    }
    let mut html = String::new();
    for att in attachments {
        if hostable(att) {
            let id = (body.hosted_contents.len() + 1).to_string();
            let size = match (att.width, att.height) {
                (Some(w), Some(h)) => format!(" width=\"{w}\" height=\"{h}\""),
                _ => String::new(),
            };
            html.push_str(&format!(
                "<img src=\"../hostedContents/{id}/$value\" alt=\"{}\"{size}>",
                escape_html(&att.name)
            ));
            body.hosted_contents.push(NewHostedContent {
                temporary_id: id,
                content_bytes: b64::encode(&att.data),
                content_type: att.mime.clone(),
            });
            continue;
        }
        let reference = upload(login, conv, att).await?;
        html.push_str(&format!(
            "<attachment id=\"{}\"></attachment>",
            escape_html(reference.id.as_deref().unwrap_or_default())
        ));
        body.attachments.push(reference);
    }
    if !html.is_empty() {
        let content = body.body.content.get_or_insert_with(String::new);
        if !content.is_empty() {
            content.push_str("<br>");
        }
        content.push_str(&html);
    }
    Ok(())
}

/// Whether an attachment goes inline: an image Teams shows, small enough.
fn hostable(att: &Attachment) -> bool {
    att.kind == AttachmentKind::Image
        && att.data.len() <= HOSTED_IMAGE_MAX
        && matches!(
            att.mime.as_str(),
            "image/png" | "image/jpeg" | "image/gif" | "image/jpg"
        )
}

/// A file name OneDrive takes: without the characters it refuses, never empty.
fn file_name(name: &str) -> String {
    let cleaned: String = name
        .chars()
        .map(|c| match c {
            '/' | '\\' | ':' | '*' | '?' | '"' | '<' | '>' | '|' | '#' | '%' => '_',
            c if c.is_control() => '_',
            c => c,
        })
        .collect();
    let cleaned = cleaned.trim().trim_end_matches('.').to_owned();
    if cleaned.is_empty() {
        "file".into()
    } else {
        cleaned
    }
}

/// The id a `reference` attachment takes: the GUID of the item's `eTag`
/// (`"{GUID},N"`), or its id when it has none.
pub(crate) fn attachment_id(item: &DriveItem) -> String {
    item.e_tag
        .as_deref()
        .map(|t| t.trim_matches('"'))
        .and_then(|t| t.split(',').next())
        .map(|g| g.trim_matches(|c| c == '{' || c == '}').to_lowercase())
        .filter(|g| !g.is_empty())
        .unwrap_or_else(|| item.id.clone())
}

/// Uploads one file where the conversation's files live and returns its attachment.
async fn upload(
    login: &TeamsLogin,
    conv: Conversation<'_>,
    att: &Attachment,
) -> ConnectorResult<ChatMessageAttachment> {
    let name = file_name(&att.name);
    // The item's address: `{folder}:/{name}:` in Graph's path syntax.
    let (folder, known_folder_url) = match conv {
        Conversation::Chat(_) => (
            format!("/me/drive/root:/{}", encode(CHAT_FILES_FOLDER)),
            None,
        ),
        Conversation::Channel { .. } => {
            let folder: DriveItem = login
                .graph
                .get(&format!("{}/filesFolder", conv.path()), &[])
                .await?;
            let drive = folder
                .parent_reference
                .as_ref()
                .and_then(|p| p.drive_id.clone())
                .ok_or_else(|| {
                    ConnectorError::Temporary("the channel's files folder has no drive".into())
                })?;
            (
                format!("/drives/{}/items/{}:", encode(&drive), encode(&folder.id)),
                folder.web_url,
            )
        }
    };
    let item_path = format!("{folder}/{}:", encode(&name));
    let item: DriveItem = if att.data.len() as u64 <= login.config.simple_upload_max_bytes {
        login
            .graph
            .put_bytes(
                &format!("{item_path}/content"),
                &[("@microsoft.graph.conflictBehavior", "rename".into())],
                att.data.clone(),
                &att.mime,
            )
            .await?
    } else {
        upload_in_pieces(login, &item_path, &att.data).await?
    };
    let stored_name = item.name.clone().unwrap_or(name);
    let folder_url = match known_folder_url {
        Some(url) => url,
        None => folder_url(login, &item).await?,
    };
    if let Conversation::Chat(_) = conv {
        share_with_members(login, conv, &item).await;
    }
    Ok(ChatMessageAttachment {
        id: Some(attachment_id(&item)),
        content_type: Some("reference".into()),
        content_url: Some(format!(
            "{}/{}",
            folder_url.trim_end_matches('/'),
            encode(&stored_name)
        )),
        content: None,
        name: Some(stored_name),
    })
}

/// The `webUrl` of an uploaded item's folder (kept per folder).
async fn folder_url(login: &TeamsLogin, item: &DriveItem) -> ConnectorResult<String> {
    let parent = item
        .parent_reference
        .as_ref()
        .and_then(|p| p.id.clone())
        .ok_or_else(|| ConnectorError::Temporary("the uploaded file has no folder".into()))?;
    if let Some(url) = login.folder_urls.lock().await.get(&parent) {
        return Ok(url.clone());
    }
    let folder: DriveItem = login
        .graph
        .get(&format!("/me/drive/items/{}", encode(&parent)), &[])
        .await?;
    let url = folder
        .web_url
        .ok_or_else(|| ConnectorError::Temporary("the files folder has no web URL".into()))?;
    login.folder_urls.lock().await.insert(parent, url.clone());
    Ok(url)
}

/// Lets the chat's other members open the file (as Teams does when a file is sent in a
/// chat). A failure is logged: the message still goes, and its owner can share it by hand.
async fn share_with_members(login: &TeamsLogin, conv: Conversation<'_>, item: &DriveItem) {
    let members: Collection<ConversationMember> = match login
        .graph
        .get(&format!("{}/members", conv.path()), &[])
        .await
    {
        Ok(m) => m,
        Err(e) => {
            tracing::warn!(error = %e, "cannot list the chat's members to share a file with them");
            return;
        }
    };
    let me = login.login.remote_user.as_str();
    let recipients: Vec<_> = members
        .value
        .iter()
        .filter_map(|m| m.user_id.as_deref())
        .filter(|u| *u != me)
        .map(|u| json!({ "objectId": u }))
        .collect();
    if recipients.is_empty() {
        return;
    }
    let invite = json!({
        "recipients": recipients,
        "roles": ["read"],
        "requireSignIn": true,
        "sendInvitation": false,
    });
    if let Err(e) = login
        .graph
        .post::<_, serde::de::IgnoredAny>(
            &format!("/me/drive/items/{}/invite", encode(&item.id)),
            &invite,
        )
        .await
    {
        tracing::warn!(error = %e, file = ?item.name, "cannot share a file with the chat's members");
    }
}

/// Uploads a large file through an upload session: pieces `PUT` to the session's
/// pre-authenticated URL, which gets no bearer token.
async fn upload_in_pieces(
    login: &TeamsLogin,
    item_path: &str,
    data: &[u8],
) -> ConnectorResult<DriveItem> {
    let session: UploadSession = login
        .graph
        .post(
            &format!("{item_path}/createUploadSession"),
            &json!({"item": {"@microsoft.graph.conflictBehavior": "rename"}}),
        )
        .await?;
    let url = url::Url::parse(&session.upload_url).map_err(|_| {
        ConnectorError::Temporary("Graph answered an upload session without a valid URL".into())
    })?;
    let graph_origin = url::Url::parse(login.graph.base()).map(|u| u.origin()).ok();
    if url.scheme() != "https" && Some(url.origin()) != graph_origin {
        return Err(ConnectorError::Refused(
            "Graph's upload session URL is not https".into(),
        ));
    }
    let total = data.len();
    let mut start = 0;
    loop {
        let end = (start + CHUNK).min(total);
        let response = login
            .graph
            .http()
            .put(url.clone())
            .header(
                reqwest::header::CONTENT_RANGE,
                format!("bytes {start}-{}/{total}", end - 1),
            )
            .body(data[start..end].to_vec())
            .send()
            .await
            .map_err(|e| ConnectorError::Temporary(format!("uploading a file piece: {e}")))?;
        let status = response.status();
        let text = response
            .text()
            .await
            .map_err(|e| ConnectorError::Temporary(format!("uploading a file piece: {e}")))?;
        if status.as_u16() == 202 && end < total {
            start = end;
            continue;
        }
        return crate::graph_client::read_answer("upload session", status, &text);
    }
}

/// Downloads a message's inline images and files into `content`; what cannot be fetched (too
/// large, refused, failed) is named in the text with the reason.
pub(crate) async fn attach_inbound(
    login: &TeamsLogin,
    conv: Conversation<'_>,
    id: &str,
    message: &ChatMessage,
    content: &mut MessageContent,
) {
    let max = login.config.max_file_bytes;
    let mut count = 0;
    let html = message.body.content.as_deref().unwrap_or_default();
    let images = if message.body.content_type.as_deref() == Some("html") {
        hosted_ids(html)
    } else {
        Vec::new()
    };
    for (n, hosted) in images.iter().enumerate() {
        let guess = format!("image{}.png", n + 1);
        count += 1;
        if count > MAX_FILES_PER_MESSAGE {
            note(
                content,
                &guess,
                "the message has more files than the bridge takes",
            );
            continue;
        }
        let url = format!(
            "{}{}/hostedContents/{}/$value",
            login.graph.base(),
            conv.message_path(id),
            encode(hosted)
        );
        match fetch(login, &url, max).await {
            Ok((data, mime)) => {
                let mime = mime
                    .filter(|m| m.starts_with("image/"))
                    .unwrap_or_else(|| "image/png".into());
                content.attachments.push(Attachment {
                    kind: AttachmentKind::Image,
                    name: format!("image{}.{}", n + 1, extension(&mime)),
                    mime,
                    data,
                    width: None,
                    height: None,
                });
            }
            Err(why) => note(content, &guess, &why),
        }
    }
    for att in message
        .attachments
        .iter()
        .filter(|a| a.content_type.as_deref() == Some("reference"))
    {
        let name = att.name.clone().unwrap_or_else(|| "file".into());
        let Some(url) = att.content_url.as_deref() else {
            continue;
        };
        count += 1;
        if count > MAX_FILES_PER_MESSAGE {
            note(
                content,
                &name,
                "the message has more files than the bridge takes",
            );
            continue;
        }
        match download_reference(login, url, max).await {
            Ok((data, mime)) => content.attachments.push(Attachment {
                kind: kind_of(&mime),
                name,
                mime,
                data,
                width: None,
                height: None,
            }),
            Err(why) => note(content, &name, &why),
        }
    }
}

/// A shared file's bytes and type, through Graph's shares API.
async fn download_reference(
    login: &TeamsLogin,
    url: &str,
    max: u64,
) -> Result<(Vec<u8>, String), String> {
    let share = format!("u!{}", b64::encode_url_safe(url.as_bytes()));
    let item: DriveItem = login
        .graph
        .get(&format!("/shares/{share}/driveItem"), &[])
        .await
        .map_err(|e| e.to_string())?;
    if let Some(size) = item.size.filter(|s| *s as u64 > max) {
        return Err(format!(
            "it is {size} bytes, larger than the {max} bytes this bridge takes"
        ));
    }
    let (data, served) = fetch(
        login,
        &format!("{}/shares/{share}/driveItem/content", login.graph.base()),
        max,
    )
    .await?;
    let mime = item
        .file
        .and_then(|f| f.mime_type)
        .or(served)
        .unwrap_or_else(|| "application/octet-stream".into());
    Ok((data, mime))
}

/// A Graph download through the media guard, with the bearer token for Graph alone.
async fn fetch(
    login: &TeamsLogin,
    url: &str,
    max: u64,
) -> Result<(Vec<u8>, Option<String>), String> {
    let token = login.graph.bearer().await.map_err(|e| e.to_string())?;
    let fetched = login
        .media
        .fetch(url, &Credentials::bearer(&token), max)
        .await
        .map_err(|e| e.to_string())?;
    let mime = fetched
        .content_type
        .map(|c| c.split(';').next().unwrap_or_default().trim().to_owned())
        .filter(|c| !c.is_empty());
    Ok((fetched.data, mime))
}

/// A user's profile photo as an avatar: its bytes, type and a source naming this version
/// (`None` when they have none).
pub(crate) async fn profile_photo(
    login: &TeamsLogin,
    user: &str,
) -> ConnectorResult<Option<aqueduct_core::connector::RemoteAvatar>> {
    let path = format!("/users/{}/photo", encode(user));
    let (status, text) = login
        .graph
        .try_call::<()>(reqwest::Method::GET, &path, None)
        .await?;
    if status == 404 {
        return Ok(None);
    }
    let photo: crate::graph::ProfilePhoto = crate::graph_client::read_answer(
        &path,
        reqwest::StatusCode::from_u16(status).unwrap_or(reqwest::StatusCode::BAD_GATEWAY),
        &text,
    )?;
    let version = photo
        .media_etag
        .or(photo.id)
        .unwrap_or_else(|| "photo".into());
    let (data, mime) = fetch(
        login,
        &format!("{}{path}/$value", login.graph.base()),
        MAX_PHOTO_BYTES,
    )
    .await
    .map_err(ConnectorError::Temporary)?;
    Ok(Some(aqueduct_core::connector::RemoteAvatar {
        source: format!("teams-photo:{user}:{version}"),
        mime: mime.unwrap_or_else(|| "image/jpeg".into()),
        data,
    }))
}

/// The hosted content ids of a body's inline images (`<img src=".../hostedContents/{id}/$value">`).
pub(crate) fn hosted_ids(html: &str) -> Vec<String> {
    fn walk(nodes: &[Node], out: &mut Vec<String>) {
        for node in nodes {
            if let Node::Element { name, children, .. } = node {
                if name == "img"
                    && let Some(src) = node.attr("src")
                    && let Some((_, rest)) = src.split_once("/hostedContents/")
                    && let Some(id) = rest.split('/').next()
                    && !id.is_empty()
                {
                    out.push(
                        url::form_urlencoded::parse(format!("x={id}").as_bytes())
                            .next()
                            .map(|(_, v)| v.into_owned())
                            .unwrap_or_else(|| id.to_owned()),
                    );
                }
                walk(children, out);
            }
        }
    }
    let mut out = Vec::new();
    walk(&parse(html), &mut out);
    out
}

/// Names a file that did not cross in the message's text.
fn note(content: &mut MessageContent, name: &str, why: &str) {
    let line = format!("[{name} was not bridged: {why}]");
    if let Some(html) = &mut content.html {
        html.push_str(&format!("<br>{}", escape_html(&line)));
    }
    if content.body.is_empty() {
        content.body = line;
    } else {
        content.body.push('\n');
        content.body.push_str(&line);
    }
}

fn kind_of(mime: &str) -> AttachmentKind {
    match mime.split('/').next() {
        Some("image") => AttachmentKind::Image,
        Some("video") => AttachmentKind::Video,
        Some("audio") => AttachmentKind::Audio,
        _ => AttachmentKind::File,
    }
}

fn extension(mime: &str) -> &str {
    match mime {
        "image/jpeg" | "image/jpg" => "jpg",
        "image/gif" => "gif",
        "image/webp" => "webp",
        _ => "png",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inline_images_are_found_by_their_hosted_content_ids() {
        let html = "<p>look</p><div><span><img src=\"https://graph.microsoft.com/v1.0/chats/19:a@thread.v2/messages/1/hostedContents/aWQ9eF8w/$value\" width=\"10\"></span><img src=\"https://example.com/x.png\"></div>";
        assert_eq!(hosted_ids(html), vec!["aWQ9eF8w".to_owned()]);
    }

    #[test]
    fn attachment_ids_are_the_etag_guid() {
        let item: DriveItem = serde_json::from_value(json!({
            "id": "01ABC", "eTag": "\"{153FA47D-18C9-4179-BE08-9879815A9F90},1\""
        }))
        .unwrap();
        assert_eq!(attachment_id(&item), "153fa47d-18c9-4179-be08-9879815a9f90");
        assert_eq!(file_name("a/b:c?.txt"), "a_b_c_.txt");
        assert_eq!(file_name("  ..."), "file");
    }
}
