// "Je ne suis pas un robot": the self-hosted ALTCHA widget, usable with mouse, touch, keyboard and screen reader.
// A module file, so the page needs no inline script; every file comes from our own static folder.
import "../vendor/altcha/i18n/fr-fr.js";
import "../vendor/altcha/i18n/en.js";
import "../vendor/altcha/altcha.min.js";

const pbkdf2Worker = new URL("../vendor/altcha/workers/pbkdf2.js", import.meta.url);
globalThis.$altcha.algorithms.set("PBKDF2/SHA-256", () => new Worker(pbkdf2Worker));

const widget = document.querySelector("altcha-widget");
const status = document.getElementById("captcha-status");
const checkbox = () => widget.querySelector("input[type=checkbox]");

function announce(key) {
  const text = status && status.dataset[key];
  if (text) {
    status.textContent = text;
  }
}

// The help and the error under the box describe its checkbox (rendered by the widget itself).
function describeCheckbox() {
  const box = checkbox();
  if (!box) {
    return false;
  }
  box.setAttribute("aria-describedby", widget.dataset.describedBy);
  if (document.getElementById("captcha-error")) {
    box.setAttribute("aria-invalid", "true");
  }
  return true;
}

if (widget) {
  customElements.whenDefined("altcha-widget").then(() => {
    if (!describeCheckbox()) {
      const observer = new MutationObserver(() => describeCheckbox() && observer.disconnect());
      observer.observe(widget, { childList: true, subtree: true });
    }
  });

  widget.addEventListener("statechange", (event) => {
    const state = event.detail && event.detail.state;
    if (state === "verifying" || state === "verified" || state === "error" || state === "expired") {
      announce(state);
    }
    if (state === "verified" || state === "error" || state === "expired") {
      describeCheckbox();
    }
  });

  // Once verified, the box stays ticked: a second press of Space (or a second tap) would otherwise untick it
  // and the sign-in would fail for a member who did exactly what the help text says.
  widget.addEventListener("click", (event) => {
    if (event.target === checkbox() && widget.getState() === "verified") {
      event.preventDefault();
      announce("verified");
    }
  }, true);

  // Sending the form while the check runs: wait for it, then send, instead of failing.
  const form = widget.closest("form");
  if (form) {
    form.addEventListener("submit", (event) => {
      if (widget.getState() !== "verifying") {
        return;
      }
      event.preventDefault();
      announce("waiting");
      const submitter = event.submitter;
      widget.addEventListener("statechange", function sendWhenDone(change) {
        const state = change.detail && change.detail.state;
        if (state === "verified") {
          widget.removeEventListener("statechange", sendWhenDone);
          form.requestSubmit(submitter || undefined);
        } else if (state !== "verifying") {
          widget.removeEventListener("statechange", sendWhenDone);
        }
      });
    });
  }
}
