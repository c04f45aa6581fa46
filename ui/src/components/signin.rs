use yew::prelude::*;

use super::{input_value, run, use_ctx};
use crate::ipc;
use crate::state::{Msg, Notice};

#[function_component]
pub fn SignIn() -> Html {
    let ctx = use_ctx();
    let url = use_state(|| "http://127.0.0.1:8080".to_owned());
    let token = use_state(String::new);
    let busy = use_state(|| false);
    let onsubmit = {
        let (ctx, url, token, busy) = (ctx.clone(), url.clone(), token.clone(), busy.clone());
        Callback::from(move |e: SubmitEvent| {
            e.prevent_default();
            busy.set(true);
            let (u, t, busy2, ctx2) = ((*url).clone(), (*token).clone(), busy.clone(), ctx.clone());
            let done = busy.clone();
            run(
                &ctx,
                async move {
                    let r = ipc::sign_in(u, t).await;
                    done.set(false);
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
        })
    };
    let notice = ctx.notice.clone();
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
                <p class="fineprint">{"The token is kept in your system keyring, never on disk."}</p>
            </form>
        </div>
    }
}
