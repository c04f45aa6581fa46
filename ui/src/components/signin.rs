use yew::prelude::*;

use super::{input_value, run, use_ctx};
use crate::ipc;
use crate::state::{Msg, Notice};
use switchboard_core::desktop::DesktopError;

#[function_component]
pub fn SignIn() -> Html {
    let ctx = use_ctx();
    let url = use_state(|| "http://127.0.0.1:8080".to_owned());
    let token = use_state(String::new);
    let busy = use_state(|| false);
    // Set when the keyring refused: the sign-in then offers a session-only one.
    let no_keyring = use_state(|| None::<String>);
    let submit = |remember: bool| {
        let (ctx, url, token, busy, no_keyring) = (
            ctx.clone(),
            url.clone(),
            token.clone(),
            busy.clone(),
            no_keyring.clone(),
        );
        move || {
            busy.set(true);
            let (u, t, busy2, ctx2) = ((*url).clone(), (*token).clone(), busy.clone(), ctx.clone());
            let (done, nk) = (busy.clone(), no_keyring.clone());
            run(
                &ctx,
                async move {
                    let r = if remember {
                        ipc::sign_in(u, t).await
                    } else {
                        ipc::sign_in_for_session(u, t).await
                    };
                    done.set(false);
                    if let Err(DesktopError::Keyring(m)) = &r {
                        nk.set(Some(m.clone()));
                    }
                    r
                },
                move |_| {
                    busy2.set(false);
                    ctx2.dispatch(Msg::Notice(None));
                    wasm_bindgen_futures::spawn_local(async move {
                        if let Ok(s) = ipc::state().await {
                            ctx2.dispatch(Msg::State(s));
                        }
                    });
                },
            );
        }
    };
    let onsubmit = {
        let go = submit(true);
        Callback::from(move |e: SubmitEvent| {
            e.prevent_default();
            go();
        })
    };
    let session_only = {
        let go = submit(false);
        Callback::from(move |_: MouseEvent| go())
    };
    // The keyring panel explains that failure itself; the generic notice would repeat it.
    let notice = ctx.notice.clone().filter(|_| no_keyring.is_none());
    html! {
        <div class="signin-wrap">
            <form class="signin card" {onsubmit}>
                <div class="brand-lg">{"Switchboard"}</div>
                <p class="muted">{"Sign in with the gateway address and the agent token from your administrator."}</p>
                <label for="signin-url">{"Gateway URL"}</label>
                <input id="signin-url" type="url" value={(*url).clone()} autocomplete="url"
                    oninput={let url = url.clone(); Callback::from(move |e: InputEvent| url.set(input_value(&e)))} />
                <label for="signin-token">{"Agent token"}</label>
                <input id="signin-token" type="password" value={(*token).clone()} placeholder="sbt_…"
                    oninput={let token = token.clone(); Callback::from(move |e: InputEvent| token.set(input_value(&e)))} />
                if let Some(Notice { text, .. }) = notice {
                    <div class="form-error" id="signin-error">{text}</div>
                }
                <button id="signin-submit" class="btn primary wide" type="submit" disabled={*busy}>
                    { if *busy { "Signing in…" } else { "Sign in" } }
                </button>
                if let Some(why) = (*no_keyring).clone() {
                    <div class="keyring-missing" id="keyring-missing">
                        <p>{"This computer has no system keyring (Secret Service) to keep your token, so Switchboard cannot remember this sign-in. "}
                           {"You can sign in for this session only: the token stays in memory, never on disk, and you sign in again after quitting. "}
                           {"To stay signed in, install and unlock a keyring such as GNOME Keyring or KWallet, then sign in again."}</p>
                        <p class="fineprint">{why}</p>
                        <button id="signin-session-only" class="btn wide" type="button" disabled={*busy} onclick={session_only}>
                            {"Sign in for this session only"}
                        </button>
                    </div>
                }
                if no_keyring.is_none() {
                    <p class="fineprint">{"The token is kept in your system keyring, never on disk."}</p>
                }
            </form>
        </div>
    }
}
