// Starts Swagger UI on /api/docs. A file rather than an inline script, which
// the Content-Security-Policy would block.
"use strict";
const element = document.getElementById("swagger-ui");
window.ui = SwaggerUIBundle({
  url: element.dataset.specUrl,
  domNode: element,
  deepLinking: true,
  // Never send the document to a validation service on another host.
  validatorUrl: null,
  // "Try it out" from a logged-in browser authenticates with the session,
  // whose writes need the page's CSRF token; token requests need none.
  requestInterceptor: (request) => {
    if (request.method !== "GET" && !request.headers.Authorization) {
      request.headers["X-CSRFToken"] = element.dataset.csrfToken;
    }
    return request;
  },
});
