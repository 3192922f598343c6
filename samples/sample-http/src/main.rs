use lamina_http::http::{Request, Response, StatusCode, header};
use lamina_http::{Body, Context, Error, RequestExt};

fn handler(request: Request<Body>, _ctx: &Context) -> Result<Response<Body>, Error> {
    let response = Response::builder();
    let response = match request.uri().path() {
        "/hello" => {
            let name = request.query_parameter("name").unwrap_or("world");
            response.body(Body::from(format!("Hello, {name}!")))
        }
        // Echoes a binary body back as bytes; the count proves it arrived decoded.
        "/echo" => response
            .header(header::CONTENT_TYPE, "application/octet-stream")
            .header("x-body-length", request.body().as_bytes().len())
            .body(Body::from(request.body().as_bytes().to_vec())),
        "/cookie" => {
            let cookie = request.headers().get(header::COOKIE);
            let seen = cookie
                .and_then(|v| v.to_str().ok())
                .unwrap_or("")
                .to_owned();
            response
                .header(header::SET_COOKIE, "visited=yes; Path=/")
                .header(header::SET_COOKIE, "theme=dark")
                .body(Body::from(format!("cookie: {seen}")))
        }
        // 3 MB of text: large answers pass whole (Lambda's buffered limit is 6 MB).
        "/big" => response
            .header(header::CONTENT_TYPE, "text/plain")
            .body(Body::from("0123456789abcdef".repeat(3 * 1024 * 1024 / 16))),
        // A handler error: the client gets a 500, the log gets the message.
        "/fail" => return Err(Error::msg("the database is down")),
        _ => response
            .status(StatusCode::NOT_FOUND)
            .body(Body::from("sample-http has no such page")),
    };
    Ok(response?)
}

fn main() {
    lamina_http::run(handler)
}
