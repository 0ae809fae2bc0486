/* Embeds the OpenAPI document into the server binary, so GET /openapi.yaml works from any directory. */
    .section .rodata
    .global vae_openapi_yaml
    .type vae_openapi_yaml, @object
vae_openapi_yaml:
    .incbin "openapi.yaml"
    .global vae_openapi_yaml_end
vae_openapi_yaml_end:
    .byte 0
    .section .note.GNU-stack,"",@progbits
