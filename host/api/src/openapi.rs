//! The OpenAPI description, generated from the handlers and body types.

use crate::model::*;
use axum::Json;
use axum::response::{IntoResponse, Response};
use utoipa::OpenApi;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};

/// The API's description.
#[derive(OpenApi)]
#[openapi(
    info(
        title = "Vessel API",
        description = "Capillaries' webapi endpoints and envelope, plus run submission with the script in the body, summaries, validation and progress events."
    ),
    paths(
        crate::handlers::healthz,
        crate::handlers::list_keyspaces,
        crate::history::keyspace_matrix,
        crate::handlers::drop_keyspace,
        crate::handlers::start_run,
        crate::handlers::stop_run,
        crate::history::node_history,
        crate::history::batch_history,
        crate::history::viz,
        crate::handlers::summary,
        crate::handlers::events,
        crate::handlers::validate,
        openapi_json,
    ),
    components(schemas(ErrorBody, ScriptSource, StopBody)),
    modifiers(&Bearer),
    security(("bearer" = []))
)]
pub struct ApiDoc;

struct Bearer;

impl utoipa::Modify for Bearer {
    fn modify(&self, api: &mut utoipa::openapi::OpenApi) {
        if let Some(c) = api.components.as_mut() {
            c.add_security_scheme(
                "bearer",
                SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
            );
        }
        // Every operation but /healthz answers 401 when the server has a token and the
        // request lacks it.
        let unauthorized = utoipa::openapi::ResponseBuilder::new()
            .description("The server has a token and the request did not send it")
            .content(
                "application/json",
                utoipa::openapi::ContentBuilder::new()
                    .schema(Some(utoipa::openapi::Ref::from_schema_name("ErrorBody")))
                    .build(),
            )
            .build();
        for (path, item) in api.paths.paths.iter_mut() {
            if path == "/healthz" {
                continue;
            }
            for op in [
                &mut item.get,
                &mut item.post,
                &mut item.delete,
                &mut item.put,
                &mut item.patch,
            ]
            .into_iter()
            .flatten()
            {
                op.responses
                    .responses
                    .insert("401".into(), unauthorized.clone().into());
            }
        }
    }
}

/// `GET /openapi.json`: this description.
#[utoipa::path(get, path = "/openapi.json", tag = "vessel",
    responses((status = 200, description = "OpenAPI 3 description", body = Object)))]
pub(crate) async fn openapi_json() -> Response {
    Json(ApiDoc::openapi()).into_response()
}
