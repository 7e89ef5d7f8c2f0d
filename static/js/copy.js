/* Copy buttons: <button type="button" data-copy="TEXT">Copy</button>.
 *
 * Copies TEXT (a relative URL is made absolute against the page's address) with the
 * asynchronous clipboard API, falling back to a selected, off-screen text area and
 * document.execCommand("copy") where that API is missing (plain HTTP) or refused. The result is
 * announced in a polite live region and shown on the button for a moment. Buttons are real
 * <button> elements, so they are reached with Tab and pressed with Enter or Space.
 */
(() => {
  "use strict";

  /* Absolute URLs are copied exactly as given (Prolific's {{%…%}} placeholders included). */
  const absolute = (text) => {
    if (/^[a-z][a-z0-9+.-]*:/i.test(text)) return text;
    try {
      return new URL(text, document.baseURI).href;
    } catch (error) {
      return text;
    }
  };

  const fallbackCopy = (text) => {
    const area = document.createElement("textarea");
    area.value = text;
    area.setAttribute("readonly", "");
    area.style.position = "fixed";
    area.style.left = "-9999px";
    document.body.appendChild(area);
    const focused = document.activeElement;
    area.select();
    let copied = false;
    try {
      copied = document.execCommand("copy");
    } catch (error) {
      copied = false;
    }
    area.remove();
    if (focused && typeof focused.focus === "function") focused.focus();
    return copied;
  };

  const copyText = async (text) => {
    if (navigator.clipboard && window.isSecureContext) {
      try {
        await navigator.clipboard.writeText(text);
        return true;
      } catch (error) {
        /* refused (permissions, focus): try the fallback */
      }
    }
    return fallbackCopy(text);
  };

  let announcer = null;
  const announce = (message) => {
    if (!announcer) {
      announcer = document.createElement("div");
      announcer.className = "copy-announcer";
      announcer.setAttribute("role", "status");
      announcer.setAttribute("aria-live", "polite");
      document.body.appendChild(announcer);
    }
    announcer.textContent = "";
    window.setTimeout(() => { announcer.textContent = message; }, 50);
  };

  const selectSource = (button) => {
    const field = button.closest(".copy-field");
    const source = field && field.querySelector(".copy-source");
    if (source) {
      source.focus();
      source.select();
    }
  };

  document.addEventListener("click", async (event) => {
    const button = event.target.closest("[data-copy]");
    if (!button) return;
    event.preventDefault();
    const label = button.dataset.label || button.textContent;
    button.dataset.label = label;
    const copied = await copyText(absolute(button.dataset.copy));
    if (copied) {
      button.textContent = "Copied";
      announce("Link copied to the clipboard.");
    } else {
      button.textContent = "Press Ctrl+C";
      announce("Copying is not available here: the link is selected, press Ctrl+C (or ⌘C) to copy it.");
      selectSource(button);
    }
    button.classList.toggle("copy-failed", !copied);
    window.setTimeout(() => {
      button.textContent = button.dataset.label;
      button.classList.remove("copy-failed");
    }, 2000);
  });
})();
