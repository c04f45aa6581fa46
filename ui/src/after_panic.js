// The body of the function `recover.rs` runs once the UI's code has panicked, with
// arguments (key, message, attempt, max): report the panic (`message`, `attempt` in a row;
// the count is kept under `key` in session storage), then reload the page or, past `max`,
// say on it what happened. The report's answer is awaited for up to 2 s, so the log gets it
// before the page goes; `reported` makes sure that happens once.
try { sessionStorage.setItem(key, String(attempt)); } catch (e) {}
let reported = false;
const next = () => {
  if (reported) return;
  reported = true;
  if (attempt <= max) { location.reload(); return; }
  const panel = document.createElement("div");
  panel.id = "ui-failed";
  panel.setAttribute("role", "alert");
  panel.style.cssText = "font: 15px system-ui, sans-serif; margin: 48px auto; max-width: 640px";
  const title = document.createElement("h2");
  title.textContent = "The console stopped on an error";
  const what = document.createElement("p");
  what.textContent = "It restarted " + max + " times and met the error each time. Calls in progress "
    + "go on. Quit Switchboard and start it again; the error below is in its log.";
  const detail = document.createElement("pre");
  detail.style.whiteSpace = "pre-wrap";
  detail.textContent = message;
  panel.append(title, what, detail);
  document.body.replaceChildren(panel);
};
try {
  window.__TAURI__.core.invoke("ui_panicked", { message, attempt }).then(next, next);
} catch (e) {
  next();
}
setTimeout(next, 2000);
