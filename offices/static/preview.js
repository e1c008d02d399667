// The result form's preview: what the citizen's status lookup will answer once the result is
// recorded (the outcome's note, then the reply), as the office types it. No reply: the note alone.
(function () {
  const form = document.querySelector("form.result");
  if (!form) return;
  const shown = form.querySelector("[data-testid=citizen-preview]");
  const reply = form.querySelector("textarea[name=response]");
  function update() {
    const picked = form.querySelector("input[name=outcome]:checked");
    const note = picked ? form.querySelector(`template[data-outcome="${picked.value}"]`) : null;
    const text = [note ? note.content.textContent.trim() : "", reply.value.trim()].filter(Boolean).join(" ");
    shown.textContent = text;
  }
  form.addEventListener("input", update);
  form.addEventListener("change", update);
  update();
})();
