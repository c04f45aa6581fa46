use switchboard_core::api::CallDetail;
use switchboard_core::{LeadStatus, TranscriptRole};
use yew::prelude::*;

use crate::state::{pretty_number, time_of_day};

#[derive(Properties, PartialEq)]
pub struct Props {
    pub detail: CallDetail,
}

fn lead_status(s: LeadStatus) -> &'static str {
    match s {
        LeadStatus::New => "New",
        LeadStatus::Contacted => "Contacted",
        LeadStatus::Qualified => "Qualified",
        LeadStatus::Unqualified => "Unqualified",
        LeadStatus::Converted => "Customer",
    }
}

#[function_component]
pub fn LeadCard(p: &Props) -> Html {
    let d = &p.detail;
    html! {
        <section class="panel lead" id="lead-card">
            <div class="panel-head"><h2>{"Lead"}</h2></div>
            { match &d.lead {
                Some(l) => html! {
                    <div class="lead-body">
                        <div class="lead-name" id="lead-name">{ l.name.clone() }</div>
                        <div class="kv"><span>{"Company"}</span><span>{ l.company.clone().unwrap_or_else(|| "—".into()) }</span></div>
                        <div class="kv"><span>{"Phone"}</span><span>{ pretty_number(&l.phone) }</span></div>
                        <div class="kv"><span>{"Stage"}</span><span class="chip">{ lead_status(l.status) }</span></div>
                        if let Some(n) = &l.notes { <div class="notes">{ n.clone() }</div> }
                    </div>
                },
                None => html! { <div class="empty">{"This caller is not a known lead."}</div> },
            } }
        </section>
    }
}

#[function_component]
pub fn Transcript(p: &Props) -> Html {
    let turns = &p.detail.transcript;
    html! {
        <section class="panel transcript" id="transcript">
            <div class="panel-head"><h2>{"Transcript"}</h2><span class="count">{turns.len()}</span></div>
            if turns.is_empty() {
                <div class="empty">{"The conversation appears here as it happens."}</div>
            }
            <ol class="turns">
            { for turns.iter().map(|t| {
                let (who, cls) = match t.role {
                    TranscriptRole::Caller => ("Caller", "caller"),
                    TranscriptRole::Agent => ("Agent", "agent"),
                    TranscriptRole::Ai => ("AI", "ai"),
                    TranscriptRole::System => ("System", "system"),
                };
                html! {
                    <li class={classes!("turn", cls)}>
                        <div class="turn-meta">{who}{" · "}{ time_of_day(t.occurred_at) }</div>
                        <div class="turn-text">{ t.content.clone() }</div>
                    </li>
                }
            }) }
            </ol>
        </section>
    }
}
