//! Attribute macros of the Vessel guest SDK. Use them through `vessel-plugin`
//! (`#[vessel_plugin::processor(...)]`, `#[vessel_plugin::functions]`), whose documentation
//! shows complete plugins.
//!
//! Each macro checks its arguments at compile time, with errors pointing at the offending
//! token, then generates the WIT export glue of its world in the plugin's crate: the
//! component then carries the type information of that world only.

use proc_macro::TokenStream;
use proc_macro2::{Span, TokenStream as TokenStream2};
use quote::{format_ident, quote, quote_spanned};
use syn::parse::Parser;
use syn::punctuated::Punctuated;
use syn::spanned::Spanned;
use syn::{Attribute, Expr, ExprLit, Ident, Item, Lit, LitStr, MetaNameValue, Token};

/// Exports a type implementing `vessel_plugin::Processor` as the component's processor.
///
/// `#[processor(name = "...", version = "...", kind = "map" | "filter" | "filter-map" |
/// "flat-map", description = "...", params_schema = "...")]`; `description` defaults to the
/// first paragraph of the type's doc comment, `params_schema` to none.
#[proc_macro_attribute]
pub fn processor(attr: TokenStream, item: TokenStream) -> TokenStream {
    let item2 = TokenStream2::from(item.clone());
    match expand_processor(attr.into(), item2.clone()) {
        Ok(glue) => quote!(#item2 #glue).into(),
        // Keep the item so that the user's other code still resolves it.
        Err(e) => {
            let e = e.to_compile_error();
            quote!(#item2 #e).into()
        }
    }
}

/// Exports the `pub fn`s of an inline module as the component's functions.
///
/// Names must be `[a-z_][a-z0-9_]*`; parameters and results use the types that implement
/// `vessel_plugin::FnArg` and `vessel_plugin::FnResult`. Takes no arguments.
#[proc_macro_attribute]
pub fn functions(attr: TokenStream, item: TokenStream) -> TokenStream {
    let item2 = TokenStream2::from(item.clone());
    match expand_functions(attr.into(), item2.clone()) {
        Ok(module) => module.into(),
        Err(e) => {
            let e = e.to_compile_error();
            quote!(#item2 #e).into()
        }
    }
}

/// The processor kinds, as written in `kind = "..."`, and their variant names.
const KINDS: &[(&str, &str)] = &[
    ("map", "Map"),
    ("filter", "Filter"),
    ("filter-map", "FilterMap"),
    ("flat-map", "FlatMap"),
];

struct ProcessorArgs {
    name: LitStr,
    version: LitStr,
    kind: (LitStr, &'static str),
    description: Option<LitStr>,
    params_schema: Option<LitStr>,
}

fn parse_processor_args(attr: TokenStream2) -> syn::Result<ProcessorArgs> {
    let pairs = Punctuated::<MetaNameValue, Token![,]>::parse_terminated.parse2(attr)?;
    let mut name = None;
    let mut version = None;
    let mut kind = None;
    let mut description = None;
    let mut params_schema = None;
    for pair in pairs {
        let key = pair
            .path
            .get_ident()
            .map(Ident::to_string)
            .unwrap_or_default();
        let value = string_value(&pair.value, &key)?;
        let slot = match key.as_str() {
            "name" => &mut name,
            "version" => &mut version,
            "kind" => &mut kind,
            "description" => &mut description,
            "params_schema" => &mut params_schema,
            _ => {
                return Err(syn::Error::new(
                    pair.path.span(),
                    "unknown key; expected `name`, `version`, `kind`, `description` or \
                     `params_schema`",
                ));
            }
        };
        if slot.is_some() {
            return Err(syn::Error::new(
                pair.path.span(),
                format!("`{key}` is given twice"),
            ));
        }
        *slot = Some(value);
    }
    let missing = |key: &str, example: &str| {
        syn::Error::new(
            Span::call_site(),
            format!("missing `{key}`, e.g. `{key} = \"{example}\"`"),
        )
    };
    let name = name.ok_or_else(|| missing("name", "my-plugin"))?;
    let version = version.ok_or_else(|| missing("version", "0.1.0"))?;
    let kind_lit = kind.ok_or_else(|| missing("kind", "map"))?;

    let n = name.value();
    if n.is_empty()
        || !n
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_')
    {
        return Err(syn::Error::new(
            name.span(),
            "a plugin name is made of lowercase ASCII letters, digits, `-` and `_`",
        ));
    }
    if let Err(why) = check_semver(&version.value()) {
        return Err(syn::Error::new(
            version.span(),
            format!("not a semantic version ({why}); write e.g. \"0.1.0\" or \"1.2.0-beta.1\""),
        ));
    }
    let k = kind_lit.value();
    let variant = KINDS
        .iter()
        .find(|(spelling, _)| *spelling == k)
        .map(|(_, v)| *v)
        .ok_or_else(|| {
            let hint = if k.contains('_') {
                format!(" (did you mean \"{}\"?)", k.replace('_', "-"))
            } else {
                String::new()
            };
            syn::Error::new(
                kind_lit.span(),
                format!(
                    "unknown kind \"{k}\"{hint}; expected \"map\", \"filter\", \"filter-map\" \
                     or \"flat-map\""
                ),
            )
        })?;
    if let Some(schema) = &params_schema
        && schema.value().trim().is_empty()
    {
        return Err(syn::Error::new(
            schema.span(),
            "`params_schema` is a JSON Schema text; leave the key out when there is none",
        ));
    }
    Ok(ProcessorArgs {
        name,
        version,
        kind: (kind_lit, variant),
        description,
        params_schema,
    })
}

fn string_value(value: &Expr, key: &str) -> syn::Result<LitStr> {
    match value {
        Expr::Lit(ExprLit {
            lit: Lit::Str(s), ..
        }) => Ok(s.clone()),
        other => Err(syn::Error::new(
            other.span(),
            format!("`{key}` takes a string literal"),
        )),
    }
}

/// `MAJOR.MINOR.PATCH`, optionally `-pre.release` and `+build`, numbers without leading zeros.
fn check_semver(v: &str) -> Result<(), &'static str> {
    let (rest, build) = match v.split_once('+') {
        Some((r, b)) => (r, Some(b)),
        None => (v, None),
    };
    let (core, pre) = match rest.split_once('-') {
        Some((c, p)) => (c, Some(p)),
        None => (rest, None),
    };
    let parts: Vec<&str> = core.split('.').collect();
    if parts.len() != 3 {
        return Err("expected three numbers");
    }
    for p in parts {
        if p.is_empty() || !p.bytes().all(|b| b.is_ascii_digit()) {
            return Err("a version number is made of digits");
        }
        if p.len() > 1 && p.starts_with('0') {
            return Err("numbers have no leading zeros");
        }
    }
    for ids in [pre, build].into_iter().flatten() {
        if ids
            .split('.')
            .any(|id| id.is_empty() || !id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-'))
        {
            return Err("pre-release and build parts are dot-separated `[0-9A-Za-z-]` words");
        }
    }
    Ok(())
}

/// The first paragraph of a doc comment, on one line.
fn doc_summary(attrs: &[Attribute]) -> String {
    let mut lines = Vec::new();
    for attr in attrs {
        if !attr.path().is_ident("doc") {
            continue;
        }
        if let syn::Meta::NameValue(MetaNameValue {
            value: Expr::Lit(ExprLit {
                lit: Lit::Str(s), ..
            }),
            ..
        }) = &attr.meta
        {
            let text = s.value();
            let line = text.trim();
            if line.is_empty() {
                if !lines.is_empty() {
                    break;
                }
            } else {
                lines.push(line.to_string());
            }
        }
    }
    lines.join(" ")
}

/// Where the SDK's WIT package is, as a string for `wit_bindgen::generate!`.
fn wit_dir(span: Span) -> syn::Result<String> {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../wit");
    let dir = dir.canonicalize().map_err(|e| {
        syn::Error::new(
            span,
            format!(
                "the WIT package of vessel-plugin is missing ({}: {e}); the SDK is used from \
                 the Vessel source tree, next to `wit/`",
                dir.display()
            ),
        )
    })?;
    dir.to_str()
        .map(str::to_string)
        .ok_or_else(|| syn::Error::new(span, "the path of the WIT package is not UTF-8"))
}

/// `wit_bindgen::generate!` for one world, reusing the SDK's `types` and `host` bindings.
fn bindgen(world: &str, span: Span) -> syn::Result<TokenStream2> {
    let path = wit_dir(span)?;
    Ok(quote! {
        ::vessel_plugin::__private::wit_bindgen::generate!({
            world: #world,
            path: #path,
            with: {
                "vessel:plugin/types@0.1.0": ::vessel_plugin::__bindings::vessel::plugin::types,
                "vessel:plugin/host@0.1.0": ::vessel_plugin::__bindings::vessel::plugin::host,
            },
            runtime_path: "::vessel_plugin::__private::wit_bindgen::rt",
        });
    })
}

fn expand_processor(attr: TokenStream2, item: TokenStream2) -> syn::Result<TokenStream2> {
    let args = parse_processor_args(attr)?;
    let item: Item = syn::parse2(item)?;
    let (ident, generics, attrs) = match &item {
        Item::Struct(s) => (&s.ident, &s.generics, &s.attrs),
        Item::Enum(e) => (&e.ident, &e.generics, &e.attrs),
        other => {
            return Err(syn::Error::new(
                other.span(),
                "#[processor] goes on the struct or enum that implements `Processor`",
            ));
        }
    };
    if !generics.params.is_empty() || generics.where_clause.is_some() {
        return Err(syn::Error::new(
            generics.span(),
            "a processor type cannot be generic: the component exports one concrete type",
        ));
    }
    let description = match &args.description {
        Some(d) => d.value(),
        None => doc_summary(attrs),
    };
    let ProcessorArgs {
        name,
        version,
        kind: (kind_lit, variant),
        params_schema,
        ..
    } = &args;
    let variant = Ident::new(variant, kind_lit.span());
    let params_schema = match params_schema {
        Some(s) => quote!(::core::option::Option::Some(#s)),
        None => quote!(::core::option::Option::None),
    };
    let params_schema_wit = quote!(info.params_schema.map(::std::string::String::from));
    let assert_impl = quote_spanned! {ident.span()=>
        const _: () = {
            fn assert_processor<T: ::vessel_plugin::Processor>() {}
            let _ = assert_processor::<#ident>;
        };
    };
    let bindings = bindgen("processor-plugin", ident.span())?;
    Ok(quote! {
        impl ::vessel_plugin::Describe for #ident {
            const INFO: ::vessel_plugin::PluginInfo = ::vessel_plugin::PluginInfo {
                name: #name,
                version: #version,
                kind: ::vessel_plugin::Kind::#variant,
                description: #description,
                params_schema: #params_schema,
            };
        }

        #assert_impl

        /// WIT export glue generated by `#[vessel_plugin::processor]`.
        // Only Wasm has the component ABI; elsewhere (unit tests of a plugin crate) the
        // plugin is driven through `vessel_plugin::testing`, and a native cdylib could not
        // even export these symbol names.
        #[cfg(target_arch = "wasm32")]
        #[doc(hidden)]
        #[allow(unsafe_code, missing_docs, clippy::all, dead_code, unused_qualifications)]
        mod __vessel_processor_plugin {
            #bindings

            use exports::vessel::plugin::processor as wit;
            use ::vessel_plugin::__private::Runtime;

            type Plugin = super::#ident;

            pub struct Component;

            impl wit::Guest for Component {
                type Instance = Instance;

                fn describe() -> wit::PluginInfo {
                    let info = <Plugin as ::vessel_plugin::Describe>::INFO;
                    wit::PluginInfo {
                        name: ::std::string::String::from(info.name),
                        version: ::std::string::String::from(info.version),
                        kind: wit::Kind::#variant,
                        description: ::std::string::String::from(info.description),
                        params_schema: #params_schema_wit,
                    }
                }
            }

            pub struct Instance(Runtime<Plugin>);

            impl wit::GuestInstance for Instance {
                fn open(
                    args: wit::OpenArgs,
                ) -> ::core::result::Result<wit::Instance, ::vessel_plugin::__bindings::vessel::plugin::types::Error> {
                    Runtime::<Plugin>::open_wit(
                        args.params_json,
                        args.input_schema,
                        args.keyspace,
                        args.run_id,
                        args.node_name,
                    )
                    .map(|rt| wit::Instance::new(Instance(rt)))
                }

                fn binding(&self) -> wit::Binding {
                    wit::Binding {
                        output_schema: self.0.output_schema_wit(),
                        reads: self.0.reads_wit(),
                    }
                }

                fn process(
                    &self,
                    input: ::vessel_plugin::__bindings::vessel::plugin::types::Batch,
                ) -> ::core::result::Result<wit::BatchResult, ::vessel_plugin::__bindings::vessel::plugin::types::Error> {
                    let r = self.0.process_wit(input)?;
                    Ok(wit::BatchResult {
                        output: r.output,
                        keep: r.keep,
                        parents: r.parents,
                        row_errors: r.row_errors,
                    })
                }
            }

            export!(Component);
        }
    })
}

struct Function {
    ident: Ident,
    params: Vec<syn::Type>,
    ret: syn::Type,
    description: String,
}

fn check_function(f: &syn::ItemFn) -> syn::Result<Function> {
    let sig = &f.sig;
    let name = sig.ident.to_string();
    let name = name.strip_prefix("r#").unwrap_or(&name);
    let mut bytes = name.bytes();
    let first_ok = bytes
        .next()
        .is_some_and(|b| b.is_ascii_lowercase() || b == b'_');
    if !first_ok || !bytes.all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_') {
        return Err(syn::Error::new(
            sig.ident.span(),
            "expression function names are `[a-z_][a-z0-9_]*`",
        ));
    }
    if let Some(a) = &sig.asyncness {
        return Err(syn::Error::new(a.span(), "functions cannot be async"));
    }
    if !sig.generics.params.is_empty() || sig.generics.where_clause.is_some() {
        return Err(syn::Error::new(
            sig.generics.span(),
            "functions cannot be generic: each has one signature",
        ));
    }
    if let Some(v) = &sig.variadic {
        return Err(syn::Error::new(v.span(), "functions cannot be variadic"));
    }
    let mut params = Vec::new();
    for input in &sig.inputs {
        match input {
            syn::FnArg::Typed(p) => params.push((*p.ty).clone()),
            syn::FnArg::Receiver(r) => {
                return Err(syn::Error::new(r.span(), "functions take no `self`"));
            }
        }
    }
    let ret = match &sig.output {
        syn::ReturnType::Type(_, ty) => (**ty).clone(),
        syn::ReturnType::Default => {
            return Err(syn::Error::new(
                sig.paren_token.span.close(),
                "a function returns a value, e.g. `-> i64`",
            ));
        }
    };
    Ok(Function {
        ident: sig.ident.clone(),
        params,
        ret,
        description: doc_summary(&f.attrs),
    })
}

fn expand_functions(attr: TokenStream2, item: TokenStream2) -> syn::Result<TokenStream2> {
    if !attr.is_empty() {
        return Err(syn::Error::new(
            attr.span(),
            "#[functions] takes no arguments: scripts choose the namespace",
        ));
    }
    let mut module: syn::ItemMod = syn::parse2(item).map_err(|e| {
        syn::Error::new(
            e.span(),
            "#[functions] goes on an inline module: `mod name { ... }`",
        )
    })?;
    let Some((_, items)) = &module.content else {
        return Err(syn::Error::new(
            module.span(),
            "#[functions] needs the module's body here: `mod name { ... }`",
        ));
    };
    let mut funcs = Vec::new();
    let mut errors: Option<syn::Error> = None;
    for item in items {
        if let Item::Fn(f) = item
            && matches!(f.vis, syn::Visibility::Public(_))
        {
            match check_function(f) {
                Ok(func) => funcs.push(func),
                Err(e) => match &mut errors {
                    Some(all) => all.combine(e),
                    None => errors = Some(e),
                },
            }
        }
    }
    if let Some(e) = errors {
        return Err(e);
    }
    if funcs.is_empty() {
        return Err(syn::Error::new(
            module.ident.span(),
            "no `pub fn` in this module: the public functions are the ones exported",
        ));
    }
    let module_ident = &module.ident;
    let mut signatures = Vec::new();
    let mut arms = Vec::new();
    for (i, f) in funcs.iter().enumerate() {
        let name = f.ident.to_string();
        let name = name.strip_prefix("r#").unwrap_or(&name).to_string();
        let fn_ident = &f.ident;
        let description = &f.description;
        let param_types = f
            .params
            .iter()
            .map(|ty| quote_spanned!(ty.span()=> <#ty as ::vessel_plugin::FnArg<'_>>::TYPE));
        let ret = &f.ret;
        let ret_type = quote_spanned!(ret.span()=> <#ret as ::vessel_plugin::FnResult>::TYPE);
        signatures.push(quote! {
            ::vessel_plugin::__private::Signature {
                name: #name,
                params: &[#(#param_types),*],
                returns: #ret_type,
                description: #description,
            }
        });
        let arg_idents: Vec<Ident> = (0..f.params.len())
            .map(|j| format_ident!("arg{}", j))
            .collect();
        let loads = f.params.iter().enumerate().map(|(j, ty)| {
            let a = &arg_idents[j];
            quote_spanned!(ty.span()=> let #a: #ty = ::vessel_plugin::__private::arg(&row, #j)?;)
        });
        arms.push(quote! {
            #name => {
                let sig = &SIGNATURES[#i];
                let batch = ::vessel_plugin::__private::decode_args(sig, args, rows)?;
                let mut out = ::vessel_plugin::ColumnBuilder::with_capacity(sig.returns, batch.len());
                for row in batch.rows() {
                    #(#loads)*
                    let result = super::#fn_ident(#(#arg_idents),*);
                    ::vessel_plugin::__private::push_result(sig, &mut out, row.index(), result)?;
                }
                ::core::result::Result::Ok(out.finish())
            }
        });
    }
    let bindings = bindgen("function-plugin", module_ident.span())?;
    // The glue goes inside the module, so that the types in the signatures resolve as they
    // do for the functions (through the module's own `use` items).
    let glue = quote! {
        /// WIT export glue generated by `#[vessel_plugin::functions]`.
        // Only Wasm has the component ABI; elsewhere (unit tests of a plugin crate) the
        // plugin is driven through `vessel_plugin::testing`, and a native cdylib could not
        // even export these symbol names.
        #[cfg(target_arch = "wasm32")]
        #[doc(hidden)]
        #[allow(unsafe_code, missing_docs, clippy::all, dead_code, unused_qualifications)]
        mod __vessel_function_plugin {
            use super::*;

            #bindings

            use exports::vessel::plugin::functions as wit;
            use ::vessel_plugin::__bindings::vessel::plugin::types as wit_types;

            use super::__VESSEL_SIGNATURES as SIGNATURES;

            pub struct Component;

            impl wit::Guest for Component {
                fn list_functions() -> ::std::vec::Vec<wit::Signature> {
                    SIGNATURES
                        .iter()
                        .map(|s| wit::Signature {
                            name: ::std::string::String::from(s.name),
                            params: s.params_wit(),
                            returns: s.returns_wit(),
                            description: ::std::string::String::from(s.description),
                        })
                        .collect()
                }

                fn call(
                    name: ::std::string::String,
                    args: ::std::vec::Vec<wit_types::Column>,
                    rows: u32,
                ) -> ::core::result::Result<wit_types::Column, wit_types::Error> {
                    match name.as_str() {
                        #(#arms)*
                        other => ::core::result::Result::Err(
                            ::vessel_plugin::__private::unknown_function(other, SIGNATURES),
                        ),
                    }
                }
            }

            export!(Component);
        }
    };
    // Outside the Wasm-only glue, so that unsupported argument and result types are errors
    // on every target, pointing at the type.
    let signatures = quote! {
        #[doc(hidden)]
        #[allow(dead_code)]
        const __VESSEL_SIGNATURES: &[::vessel_plugin::__private::Signature] = &[#(#signatures),*];
    };
    if let Some((_, items)) = &mut module.content {
        items.push(Item::Verbatim(signatures));
        items.push(Item::Verbatim(glue));
    }
    Ok(quote!(#module))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn semver_checks() {
        for ok in [
            "0.1.0",
            "1.20.3",
            "1.0.0-beta.1",
            "1.0.0+build.5",
            "1.0.0-rc-1+x",
        ] {
            assert_eq!(check_semver(ok), Ok(()), "{ok}");
        }
        for bad in [
            "1.0",
            "1.0.0.0",
            "01.0.0",
            "1.x.0",
            "",
            "1.0.0-",
            "1.0.0-a..b",
            "1.0.0+",
        ] {
            assert!(check_semver(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn processor_args_are_checked() {
        let err = |ts: TokenStream2| parse_processor_args(ts).err().unwrap().to_string();
        assert!(
            err(quote!(name = "x", version = "0.1.0", kind = "flat_map"))
                .contains("did you mean \"flat-map\"")
        );
        assert!(err(quote!(name = "X", version = "0.1.0", kind = "map")).contains("lowercase"));
        assert!(err(quote!(name = "x", kind = "map")).contains("missing `version`"));
        assert!(err(quote!(name = "x", version = "1", kind = "map")).contains("semantic version"));
        assert!(err(quote!(name = "x", name = "y")).contains("given twice"));
        assert!(err(quote!(nme = "x")).contains("unknown key"));
        assert!(err(quote!(name = x)).contains("string literal"));
        let ok = parse_processor_args(quote!(
            name = "tag_and_denormalize",
            version = "0.1.0",
            kind = "flat-map"
        ))
        .unwrap();
        assert_eq!(ok.kind.1, "FlatMap");
    }

    #[test]
    fn descriptions_come_from_the_first_doc_paragraph() {
        let item: syn::ItemStruct = syn::parse_quote! {
            /// Tags rows
            /// by criteria.
            ///
            /// Details.
            struct X;
        };
        assert_eq!(doc_summary(&item.attrs), "Tags rows by criteria.");
    }
}
