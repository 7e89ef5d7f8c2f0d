// Enlarging trial pictures: a picture is a link to itself (<a data-enlarge>); a click, a tap
// or Enter shows it in a modal <dialog> as large as the screen allows. Close, Escape or a
// click beside the picture closes it, and the focus goes back to the picture's link. Without
// JavaScript, or without <dialog>, the link opens the picture itself.
(function () {
  "use strict";
  var viewer = document.querySelector("dialog.picture-viewer");
  if (!viewer || typeof viewer.showModal !== "function") { return; }
  var frame = viewer.querySelector(".viewer-picture");
  var title = viewer.querySelector("h2");
  var opener = null;

  document.addEventListener("click", function (event) {
    var link = event.target.closest("a[data-enlarge]");
    if (!link) { return; }
    event.preventDefault();
    var small = link.querySelector("img");
    var caption = link.closest("figure").querySelector("figcaption");
    var picture = document.createElement("img");
    picture.src = link.href;
    picture.alt = small.alt;
    frame.replaceChildren(picture);
    title.textContent = caption ? caption.textContent : small.alt;
    opener = link;
    viewer.showModal();
  });
  viewer.addEventListener("click", function (event) {
    if (event.target === viewer || event.target.closest("[data-close]")) { viewer.close(); }
  });
  viewer.addEventListener("close", function () {
    if (opener) { opener.focus(); }
  });
})();
