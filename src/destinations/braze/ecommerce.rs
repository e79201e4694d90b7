//! Braze's recommended ecommerce events (`ecommerce.order_placed`, `...checkout_started`,
//! `...order_refunded`, `...order_cancelled`, `...product_viewed`) as Segment's `ecommerce`
//! (several products) and `ecommerceSingleProduct` actions send them to `/users/track`.

use super::{item, put, sync_mode, TRACK};
use crate::destinations::{Action, Settings, Item};
use crate::error::{ErrorCode, EventError};
use crate::js::is_truthy;
use crate::schema::{Field, Format, Ty};
use serde_json::{Map, Value};

const S: Ty = Ty::String;
const PRODUCT_VIEWED: &str = "ecommerce.product_viewed";
const CHECKOUT_STARTED: &str = "ecommerce.checkout_started";
const ORDER_PLACED: &str = "ecommerce.order_placed";
const ORDER_CANCELLED: &str = "ecommerce.order_cancelled";
const ORDER_REFUNDED: &str = "ecommerce.order_refunded";
static NAMES: [&str; 5] = [PRODUCT_VIEWED, CHECKOUT_STARTED, ORDER_PLACED, ORDER_CANCELLED, ORDER_REFUNDED];

include!("currencies.rs");

static ALIAS: [Field; 2] = [Field::new("alias_name", S).required(), Field::new("alias_label", S).required()];
static DISCOUNT: [Field; 2] = [Field::new("code", S).required(), Field::new("amount", Ty::Number).required()];
static PRODUCTS: [Field; 7] = [
    Field::new("product_id", S).required(),
    Field::new("product_name", S).required(),
    Field::new("variant_id", S).required(),
    Field::new("image_url", S).format(Format::Uri),
    Field::new("product_url", S).format(Format::Uri),
    Field::new("quantity", Ty::Number).required(),
    Field::new("price", Ty::Number).required(),
];
static PRODUCT: [Field; 6] = [
    Field::new("product_id", S).required(),
    Field::new("product_name", S).required(),
    Field::new("variant_id", S).required(),
    Field::new("image_url", S).format(Format::Uri),
    Field::new("product_url", S).format(Format::Uri),
    Field::new("price", Ty::Number).required(),
];

/// The fields both actions share; fields required only for some event names are checked in
/// `perform` (Segment's conditional `required`).
macro_rules! fields {
    ($last:expr) => {[
        Field::new("name", S).required().choices(&NAMES),
        Field::new("external_id", S),
        Field::new("user_alias", Ty::Object).props(&ALIAS),
        Field::new("email", S).format(Format::Email),
        Field::new("phone", S).nullable(),
        Field::new("braze_id", S).nullable(),
        Field::new("cancel_reason", S),
        Field::new("time", S).required().format(Format::DateTime),
        Field::new("checkout_id", S),
        Field::new("order_id", S),
        Field::new("cart_id", S),
        Field::new("total_value", Ty::Number),
        Field::new("total_discounts", Ty::Number),
        Field::new("discounts", Ty::Object).multiple().props(&DISCOUNT),
        Field::new("currency", S).required().choices(&CURRENCIES),
        Field::new("source", S).required(),
        Field::new("metadata", Ty::Object),
        Field::new("enable_batching", Ty::Boolean).required(),
        Field::new("batch_size", Ty::Number).required(),
        Field::new(super::SYNC_MODE, S),
        $last,
    ]};
}

static MULTI_FIELDS: [Field; 21] = fields!(Field::new("products", Ty::Object).multiple().required().props(&PRODUCTS).open());
static SINGLE_FIELDS: [Field; 21] = fields!(Field::new("product", Ty::Object).required().props(&PRODUCT));

macro_rules! mapping {
    ($products:literal) => {
        concat!(
            r#"{
  "external_id": {"@path": "$.userId"},
  "email": {"@if": {"exists": {"@path": "$.context.traits.email"}, "then": {"@path": "$.context.traits.email"}, "else": {"@path": "$.properties.email"}}},
  "phone": {"@if": {"exists": {"@path": "$.context.traits.phone"}, "then": {"@path": "$.context.traits.phone"}, "else": {"@path": "$.properties.phone"}}},
  "braze_id": {"@if": {"exists": {"@path": "$.context.traits.braze_id"}, "then": {"@path": "$.context.traits.braze_id"}, "else": {"@path": "$.properties.braze_id"}}},
  "cancel_reason": {"@path": "$.properties.reason"},
  "time": {"@path": "$.timestamp"},
  "checkout_id": {"@path": "$.properties.checkout_id"},
  "order_id": {"@path": "$.properties.order_id"},
  "cart_id": {"@path": "$.properties.cart_id"},
  "total_value": {"@path": "$.properties.total"},
  "total_discounts": {"@path": "$.properties.discount"},
  "discounts": {"@arrayPath": ["$.properties.discount_items", {"code": {"@path": "$.code"}, "amount": {"@path": "$.amount"}}]},
  "currency": {"@path": "$.properties.currency"},
  "source": {"@path": "$.properties.source"},
  "enable_batching": true,
  "batch_size": 75,
  "__segment_internal_sync_mode": "add",
  "#,
            $products,
            "\n}"
        )
    };
}

const MULTI_MAPPING: &str = mapping!(
    r#""products": {"@arrayPath": ["$.properties.products", {"product_id": {"@path": "$.product_id"}, "product_name": {"@path": "$.name"}, "variant_id": {"@path": "$.variant"}, "image_url": {"@path": "$.image_url"}, "product_url": {"@path": "$.url"}, "quantity": {"@path": "$.quantity"}, "price": {"@path": "$.price"}}]}"#
);
const SINGLE_MAPPING: &str = mapping!(
    r#""product": {"product_id": {"@path": "$.properties.product_id"}, "product_name": {"@path": "$.properties.name"}, "variant_id": {"@path": "$.properties.variant"}, "image_url": {"@path": "$.properties.image_url"}, "product_url": {"@path": "$.properties.url"}, "price": {"@path": "$.properties.price"}}"#
);

pub const MULTI: Action = Action { id: "ecommerce", title: "Ecommerce Event (multi product)", fields: &MULTI_FIELDS, default_mapping: MULTI_MAPPING, perform: |p, s| perform(&p.to_map(), s) };
pub const SINGLE: Action =
    Action { id: "ecommerceSingleProduct", title: "Ecommerce Event (single product)", fields: &SINGLE_FIELDS, default_mapping: SINGLE_MAPPING, perform: |p, s| perform(&p.to_map(), s) };

fn truthy(p: &Map<String, Value>, k: &str) -> Option<Value> {
    p.get(k).filter(|v| is_truthy(v)).cloned()
}

/// A field required for some event names only.
fn needs(p: &Map<String, Value>, name: &str, key: &str, for_names: &[&str]) -> Result<(), EventError> {
    if for_names.contains(&name) && p.get(key).is_none_or(Value::is_null) {
        return Err(EventError::new(ErrorCode::PayloadValidation, format!("The root value is missing the required field '{key}'.")).with_field(key));
    }
    Ok(())
}

fn check_conditional(p: &Map<String, Value>, name: &str) -> Result<(), EventError> {
    needs(p, name, "cancel_reason", &[ORDER_CANCELLED])?;
    needs(p, name, "checkout_id", &[CHECKOUT_STARTED])?;
    needs(p, name, "order_id", &[ORDER_PLACED, ORDER_CANCELLED, ORDER_REFUNDED])?;
    needs(p, name, "total_value", &[CHECKOUT_STARTED, ORDER_PLACED, ORDER_CANCELLED, ORDER_REFUNDED])
}

/// A product of a multi-product event: the known keys, the rest under `metadata`.
fn product_json(v: &Value) -> Value {
    let Some(m) = v.as_object() else { return v.clone() };
    const KNOWN: [&str; 7] = ["quantity", "product_id", "product_name", "variant_id", "price", "image_url", "product_url"];
    let mut out = Map::new();
    for k in KNOWN {
        put(&mut out, k, m.get(k).cloned());
    }
    let rest: Map<String, Value> = m.iter().filter(|(k, _)| !KNOWN.contains(&k.as_str())).map(|(k, v)| (k.clone(), v.clone())).collect();
    if !rest.is_empty() {
        out.insert("metadata".into(), Value::Object(rest));
    }
    Value::Object(out)
}

fn perform(p: &Map<String, Value>, settings: &Settings) -> Result<Item, EventError> {
    let mode = sync_mode(p, &["add", "update"], "Invalid syncMode. Supported sync modes are 'add' and 'update'.")?;
    let name = p.get("name").and_then(Value::as_str).unwrap_or_default();
    check_conditional(p, name)?;
    let has = |k: &str| p.get(k).is_some_and(is_truthy);
    if !(has("braze_id") || p.contains_key("user_alias") || has("external_id") || has("email") || has("phone")) {
        return Err(EventError::new(
            ErrorCode::PayloadValidation,
            "One of \"external_id\" or \"user_alias\" or \"braze_id\" or \"email\" or \"phone\" is required.",
        )
        .with_field("external_id"));
    }
    let time = p.get("time").and_then(Value::as_str).and_then(crate::time::dayjs_ms).and_then(crate::time::iso_string).ok_or_else(|| {
        EventError::new(ErrorCode::PayloadValidation, "The time is not a date Braze can read.").with_field("time")
    })?;
    let alias = p.get("user_alias").and_then(Value::as_object);
    let alias_complete = alias.is_some_and(|a| a.get("alias_label").is_some_and(is_truthy) && a.get("alias_name").is_some_and(is_truthy));

    let mut e = Map::new();
    for k in ["external_id", "braze_id", "email", "phone", "user_alias"] {
        put(&mut e, k, truthy(p, k));
    }
    put(&mut e, "app_id", settings.values.get("app_id").filter(|v| is_truthy(v)).cloned());
    e.insert("name".into(), Value::String(name.to_string()));
    e.insert("time".into(), Value::String(time));
    let mut props = Map::new();
    put(&mut props, "currency", p.get("currency").cloned());
    put(&mut props, "source", p.get("source").cloned());
    put(&mut props, "metadata", truthy(p, "metadata"));
    if name == PRODUCT_VIEWED {
        if let Some(Value::Object(product)) = p.get("product") {
            props.extend(product.iter().map(|(k, v)| (k.clone(), v.clone())));
        }
    } else {
        let products = p.get("products").and_then(Value::as_array).map(|a| a.iter().map(product_json).collect()).unwrap_or_default();
        props.insert("products".into(), Value::Array(products));
        put(&mut props, "total_value", p.get("total_value").cloned());
        let order = [ORDER_PLACED, ORDER_CANCELLED, ORDER_REFUNDED].contains(&name);
        if name == CHECKOUT_STARTED {
            put(&mut props, "checkout_id", p.get("checkout_id").cloned());
        }
        if order {
            put(&mut props, "order_id", p.get("order_id").cloned());
        }
        if name == ORDER_CANCELLED {
            put(&mut props, "cancel_reason", p.get("cancel_reason").cloned());
        }
        if order {
            put(&mut props, "total_discounts", p.get("total_discounts").filter(|v| v.is_number()).cloned());
            put(&mut props, "discounts", truthy(p, "discounts"));
        }
        if name == CHECKOUT_STARTED || name == ORDER_PLACED {
            put(&mut props, "cart_id", truthy(p, "cart_id"));
        }
    }
    e.insert("properties".into(), Value::Object(props));
    if alias_complete || mode == "update" {
        e.insert("_update_existing_only".into(), Value::Bool(true));
    }
    Ok(item(TRACK, "events", vec![Value::Object(e)]))
}
