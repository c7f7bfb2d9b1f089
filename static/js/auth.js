// Sign-in pages: a "Afficher" button next to each password field, so members can check what they typed.
for (const input of document.querySelectorAll("input[type=password][data-reveal]")) {
  const button = document.createElement("button");
  button.type = "button";
  button.className = "reveal";
  const show = input.dataset.reveal || "Afficher";
  const hide = input.dataset.conceal || "Masquer";
  button.textContent = show;
  button.setAttribute("aria-controls", input.id);
  button.setAttribute("aria-pressed", "false");
  button.addEventListener("click", () => {
    const visible = input.type === "password";
    input.type = visible ? "text" : "password";
    button.textContent = visible ? hide : show;
    button.setAttribute("aria-pressed", String(visible));
    input.focus();
  });
  input.insertAdjacentElement("afterend", button);
}
