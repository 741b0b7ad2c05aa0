// The one-time sign-in link's confirmation: redeem the code, then open the page.
const button = document.getElementById("confirm-sign-in");
const error = document.getElementById("sign-in-error");

button.addEventListener("click", async () => {
  button.disabled = true;
  let response = null;
  try {
    response = await fetch("/web/sign-in", {
      method: "POST",
      credentials: "same-origin",
      headers: { "Content-Type": "application/json", Accept: "application/json" },
      body: JSON.stringify({ code: button.dataset.code }),
    });
  } catch {
    response = null;
  }
  if (response && response.status === 204) {
    location.assign("/");
    return;
  }
  let message = "Cannot reach the relay; check your network and try again.";
  if (response) {
    try {
      message = (await response.json()).error.message;
    } catch {
      message = `The relay refused the sign-in (HTTP ${response.status}).`;
    }
  }
  error.textContent = message;
  error.hidden = false;
  button.disabled = false;
});
